import { describe, expect, it } from 'vitest';
import { codeOf } from '@swarm/test-utils';
import { clockFromEnv, fixedClock, isoTime, systemClock, unixSeconds } from './clock.js';

describe('clockFromEnv', () => {
  it('uses the wall clock when SOURCE_DATE_EPOCH is unset or empty', () => {
    for (const env of [{}, { SOURCE_DATE_EPOCH: '' }]) {
      const clock = clockFromEnv(env);
      expect(clock.fixed).toBe(false);
      const before = Date.now();
      const now = clock.now();
      expect(now).toBeGreaterThanOrEqual(before);
      expect(now).toBeLessThanOrEqual(Date.now());
    }
    expect(systemClock.fixed).toBe(false);
  });

  it.each([
    ['1700000000', 1_700_000_000],
    ['0', 0],
    [' 42 ', 42],
    ['999999999999', 999_999_999_999],
  ])('pins time to SOURCE_DATE_EPOCH=%j seconds', (raw, seconds) => {
    const clock = clockFromEnv({ SOURCE_DATE_EPOCH: raw });
    expect(clock.fixed).toBe(true);
    expect(clock.now()).toBe(seconds * 1000);
    expect(clock.now()).toBe(clock.now());
    expect(unixSeconds(clock)).toBe(seconds);
  });

  it('gives ISO times from the pinned clock', () => {
    expect(isoTime(clockFromEnv({ SOURCE_DATE_EPOCH: '1700000000' }))).toBe('2023-11-14T22:13:20.000Z');
    expect(isoTime(fixedClock(0))).toBe('1970-01-01T00:00:00.000Z');
  });

  it.each(['-1', '1.5', 'abc', '1e9', '0x10', '17 00', '9999999999999', 'now'])('rejects SOURCE_DATE_EPOCH=%j', (raw) => {
    expect(codeOf(() => clockFromEnv({ SOURCE_DATE_EPOCH: raw }))).toBe('CLOCK_INVALID');
  });

  it('rounds sub-second clocks down to whole seconds', () => {
    expect(unixSeconds(fixedClock(1999))).toBe(1);
  });
});
