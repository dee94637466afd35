import { describe, expect, it } from 'vitest';
import { transferMeter } from './signals.js';

const MIB = 1024 * 1024;

describe('the restore and seal progress line', () => {
  it('shows bytes and rate for large workspaces, at most every 100 ms, and always the last update', () => {
    let t = 0;
    const meter = transferMeter(() => t);
    expect(meter.line('sealing', 1 * MIB, 8 * MIB)).toBeNull(); // too small to bother
    expect(meter.line('sealing', 1 * MIB, 200 * MIB)).toBe('swarm: sealing 1.0 / 200.0 MiB');
    t = 50;
    expect(meter.line('sealing', 2 * MIB, 200 * MIB)).toBeNull();
    t = 1000;
    expect(meter.line('sealing', 100 * MIB, 200 * MIB)).toBe('swarm: sealing 100.0 / 200.0 MiB (100.0 MiB/s)');
    t = 1010;
    expect(meter.line('sealing', 200 * MIB, 200 * MIB)).toBe('swarm: sealing 200.0 / 200.0 MiB (198.0 MiB/s)');
    // A new phase starts its own clock.
    t = 5000;
    expect(meter.line('restoring', 1 * MIB, 100 * MIB)).toBe('swarm: restoring 1.0 / 100.0 MiB');
  });
});
