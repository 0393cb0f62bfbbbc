import { createRequire } from 'node:module';
import type Holidays from 'date-holidays';

/** Where the public holidays come from: a country, optionally a state and a region, as date-holidays names them. */
export interface HolidaySpec {
  country: string;
  state?: string;
  region?: string;
}

/** Which calendar days are no business day besides weekends ("next business day", Sev4). */
export interface HolidayCalendar {
  /** True for a local calendar date (YYYY-MM-DD) that is a public holiday or an extra date. */
  isHoliday(date: string): boolean;
  /** The holiday's name (for the logs and the tests), null when `date` is none. */
  nameOf(date: string): string | null;
}

const DAY = 86_400_000;

// Loaded only when a calendar is configured (its data takes ~100 ms to load); the same module
// instance the configuration validated V01T_OPS_HOLIDAYS with.
let lib: typeof Holidays | undefined;
const loadHolidays = () => (lib ??= createRequire(import.meta.url)('date-holidays') as typeof Holidays);

/** `date` (YYYY-MM-DD) plus `days` calendar days. */
function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY).toISOString().slice(0, 10);
}

/**
 * The holidays of `spec` (date-holidays, type `public` only: bank holidays, school holidays,
 * optional days and observances are business days) plus `extra` dates; undefined when there are
 * none, i.e. weekends only. A holiday is a whole calendar day of the operations time zone: the
 * library's local date, and the following days for a multi-day holiday (e.g. Eid al-Fitr); an
 * Islamic holiday's start on the evening before does not make that day a holiday.
 */
export function holidayCalendar(spec: HolidaySpec | undefined, extra: readonly string[] = []): HolidayCalendar | undefined {
  if (!spec && extra.length === 0) return undefined;
  const Lib = spec ? loadHolidays() : undefined;
  const hd = spec && Lib ? new Lib({ country: spec.country, state: spec.state, region: spec.region }, { types: ['public'] }) : undefined;
  const years = new Map<number, Map<string, string>>();
  const ofYear = (year: number) => {
    let days = years.get(year);
    if (!days) {
      days = new Map();
      for (const h of hd ? hd.getHolidays(year) : []) {
        if (h.type !== 'public') continue;
        const first = h.date.slice(0, 10);
        const length = Math.max(1, Math.round((h.end.getTime() - h.start.getTime()) / DAY));
        for (let i = 0; i < length; i++) {
          const d = addDays(first, i);
          if (!days.has(d)) days.set(d, h.name);
        }
      }
      years.set(year, days);
    }
    return days;
  };
  const extras = new Set(extra);
  const nameOf = (date: string): string | null => {
    if (extras.has(date)) return 'extra holiday (V01T_OPS_EXTRA_HOLIDAYS)';
    const year = Number(date.slice(0, 4));
    // A multi-day holiday that starts in late December reaches into the next year.
    return ofYear(year).get(date) ?? ofYear(year - 1).get(date) ?? null;
  };
  return { isHoliday: (date) => nameOf(date) !== null, nameOf };
}
