/** IANA time-zone helpers shared by every service that reasons in a user's or channel's local time. */

const formatters = new Map<string, Intl.DateTimeFormat>();
/** Per options object (callers keep theirs in a constant), then locale, then zone: a hit allocates nothing. */
const byOptions = new WeakMap<Intl.DateTimeFormatOptions, Map<string, Map<string, Intl.DateTimeFormat>>>();

/** Year, month and day as two digits each: the options of a calendar-date formatter. */
export const DATE_PARTS: Readonly<Intl.DateTimeFormatOptions> = Object.freeze({ year: 'numeric', month: '2-digit', day: '2-digit' });

/**
 * A cached Intl formatter for `timeZone` (building one per call is the expensive part). Pass the
 * options as a module constant: repeated calls with the same object are three map lookups; a new
 * object with equal options still finds the formatter through its JSON key.
 */
export function zoneFormatter(timeZone: string, options: Intl.DateTimeFormatOptions, locale = 'en-US'): Intl.DateTimeFormat {
  let perLocale = byOptions.get(options);
  if (!perLocale) byOptions.set(options, (perLocale = new Map()));
  let perZone = perLocale.get(locale);
  if (!perZone) perLocale.set(locale, (perZone = new Map()));
  let f = perZone.get(timeZone);
  if (f) return f;
  const key = `${locale}|${timeZone}|${JSON.stringify(options)}`;
  f = formatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(locale, { ...options, timeZone });
    formatters.set(key, f);
  }
  perZone.set(timeZone, f);
  return f;
}

const YEAR_ONLY: Intl.DateTimeFormatOptions = { year: 'numeric' };

/** True for a time zone name Intl knows (e.g. "Europe/Paris"); bounded length so input cannot grow the cache. */
export function isTimeZone(tz: string): boolean {
  if (!tz || tz.length > 64) return false;
  try {
    zoneFormatter(tz, YEAR_ONLY);
    return true;
  } catch {
    return false;
  }
}
