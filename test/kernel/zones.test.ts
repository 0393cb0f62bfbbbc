import { describe, expect, it } from 'vitest';
import { isTimeZone, zoneFormatter } from '../../src/kernel/time/zones.js';

describe('zoneFormatter', () => {
  const ymd: Intl.DateTimeFormatOptions = { year: 'numeric', month: '2-digit', day: '2-digit' };
  const at = new Date('2026-03-29T00:30:00Z');

  it('formats in the zone asked for, per locale', () => {
    expect(zoneFormatter('Europe/Paris', ymd, 'en-CA').format(at)).toBe('2026-03-29');
    expect(zoneFormatter('America/New_York', ymd, 'en-CA').format(at)).toBe('2026-03-28');
    expect(zoneFormatter('America/New_York', ymd).format(at)).toBe('03/28/2026');
  });

  it('reuses one formatter for the same options object and for equal options in a new object', () => {
    const a = zoneFormatter('Asia/Tokyo', ymd, 'en-CA');
    expect(zoneFormatter('Asia/Tokyo', ymd, 'en-CA')).toBe(a);
    expect(zoneFormatter('Asia/Tokyo', { ...ymd }, 'en-CA')).toBe(a);
    expect(zoneFormatter('Asia/Seoul', ymd, 'en-CA')).not.toBe(a);
    expect(zoneFormatter('Asia/Tokyo', ymd, 'en-US')).not.toBe(a);
    expect(zoneFormatter('Asia/Tokyo', { ...ymd, hour: 'numeric' }, 'en-CA')).not.toBe(a);
  });

  it('tells known zones from unknown ones; an unknown zone throws', () => {
    expect(isTimeZone('Europe/Paris')).toBe(true);
    expect(isTimeZone('Mars/Olympus')).toBe(false);
    expect(isTimeZone('x'.repeat(65))).toBe(false);
    expect(() => zoneFormatter('Mars/Olympus', ymd)).toThrow(RangeError);
  });
});
