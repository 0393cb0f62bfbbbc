import type { Database } from '../../kernel/db/database.js';

export type KeyRow = { id: string; workspace_id: string; name: string; key_prefix: string; created_at: Date | string; last_used_at: Date | string | null; revoked_at: Date | string | null };

/** analytics.write_keys: keys are stored as their SHA-256, never in clear. */
export class WriteKeysRepository {
  constructor(private readonly db: Database) {}

  async insert(k: { id: string; workspaceId: string; name: string; keyHash: string; keyPrefix: string; createdBy: string; createdAt: string }): Promise<KeyRow> {
    const [row] = await this.db.query<KeyRow>(
      `INSERT INTO analytics.write_keys (id, workspace_id, name, key_hash, key_prefix, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
       RETURNING id, workspace_id, name, key_prefix, created_at, last_used_at, revoked_at`,
      [k.id, k.workspaceId, k.name, k.keyHash, k.keyPrefix, k.createdBy, k.createdAt],
    );
    return row!;
  }

  async list(workspaceId: string): Promise<KeyRow[]> {
    return this.db.query<KeyRow>(
      `SELECT id, workspace_id, name, key_prefix, created_at, last_used_at, revoked_at FROM analytics.write_keys WHERE workspace_id = $1 ORDER BY created_at DESC`,
      [workspaceId],
    );
  }

  /** Revokes the key (a second revocation keeps the first instant); false when the workspace has no such key. */
  async revoke(workspaceId: string, id: string, now: string): Promise<boolean> {
    const rows = await this.db.query(`UPDATE analytics.write_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE workspace_id = $1 AND id = $2 RETURNING id`, [workspaceId, id, now]);
    return rows.length > 0;
  }

  /**
   * The workspace of a live key by its hash, recording its use (last_used_at moves only when older
   * than `staleBefore`, so a busy key does not rewrite its row on every batch); null when unknown or revoked.
   */
  async useKey(hash: string, now: string, staleBefore: string): Promise<string | null> {
    const [row] = await this.db.query<{ id: string; workspace_id: string; last_used_at: Date | string | null }>(
      `UPDATE analytics.write_keys SET last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < $3 THEN $2 ELSE last_used_at END
       WHERE key_hash = $1 AND revoked_at IS NULL RETURNING id, workspace_id, last_used_at`,
      [hash, now, staleBefore],
    );
    return row?.workspace_id ?? null;
  }
}
