import { SwarmError } from './errors.js';

/**
 * The run clock. With SOURCE_DATE_EPOCH set, time is fixed so that two runs produce byte-identical
 * artefacts; otherwise it is the wall clock.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** True when time is pinned (SOURCE_DATE_EPOCH or a test clock). */
  readonly fixed: boolean;
}

export const systemClock: Clock = { now: () => Date.now(), fixed: false };

export function fixedClock(epochMs: number): Clock {
  return { now: () => epochMs, fixed: true };
}

/** The clock the environment asks for: SOURCE_DATE_EPOCH (seconds) if set, else the system clock. */
export function clockFromEnv(env: NodeJS.ProcessEnv = process.env): Clock {
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === '') return systemClock;
  if (!/^\d{1,12}$/.test(raw.trim())) {
    throw new SwarmError('CLOCK_INVALID', `SOURCE_DATE_EPOCH must be a non-negative integer of seconds, got ${JSON.stringify(raw)}`);
  }
  return fixedClock(Number(raw.trim()) * 1000);
}

export function isoTime(clock: Clock): string {
  return new Date(clock.now()).toISOString();
}

export function unixSeconds(clock: Clock): number {
  return Math.floor(clock.now() / 1000);
}
