/** IANA time-zone helpers shared by every service that reasons in a user's or channel's local time. */

const formatters = new Map<string, Intl.DateTimeFormat>();
/** Per options object (callers keep theirs in a constant): locale|zone → formatter, so a hit builds no JSON key. */
const byOptions = new WeakMap<Intl.DateTimeFormatOptions, Map<string, Intl.DateTimeFormat>>();

/**
 * A cached Intl formatter for `timeZone` (building one per call is the expensive part). Pass the
 * options as a module constant: repeated calls with the same object are a two-map lookup; a new
 * object with equal options still finds the formatter through its JSON key.
 */
export function zoneFormatter(timeZone: string, options: Intl.DateTimeFormatOptions, locale = 'en-US'): Intl.DateTimeFormat {
  let mine = byOptions.get(options);
  if (!mine) byOptions.set(options, (mine = new Map()));
  const short = `${locale}|${timeZone}`;
  let f = mine.get(short);
  if (f) return f;
  const key = `${short}|${JSON.stringify(options)}`;
  f = formatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(locale, { ...options, timeZone });
    formatters.set(key, f);
  }
  mine.set(short, f);
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
