/** IANA time-zone helpers shared by every service that reasons in a user's or channel's local time. */

const formatters = new Map<string, Intl.DateTimeFormat>();

/** A cached Intl formatter for `timeZone` (building one per call is the expensive part). */
export function zoneFormatter(timeZone: string, options: Intl.DateTimeFormatOptions, locale = 'en-US'): Intl.DateTimeFormat {
  const key = `${locale}|${timeZone}|${JSON.stringify(options)}`;
  let f = formatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(locale, { ...options, timeZone });
    formatters.set(key, f);
  }
  return f;
}

/** True for a time zone name Intl knows (e.g. "Europe/Paris"); bounded length so input cannot grow the cache. */
export function isTimeZone(tz: string): boolean {
  if (!tz || tz.length > 64) return false;
  try {
    zoneFormatter(tz, { year: 'numeric' });
    return true;
  } catch {
    return false;
  }
}
