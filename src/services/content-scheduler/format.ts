/** A timestamp column (Date on node-postgres and PGlite, a string from json) as an ISO instant. */
export const iso = (v: Date | string | null | undefined): string | null => (v == null ? null : new Date(v).toISOString());
