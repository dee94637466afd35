/**
 * Joins two sockets into one tunnel: bytes flow both ways with back-pressure, a clean end (FIN)
 * travels as a clean end, and any failure on one side resets the other, so a client sees an
 * error (never a silent, truncated success and never a hang) when its far side dies.
 */
import type net from 'node:net';
import type { FastReader } from './fast-read.js';

export interface SpliceOptions {
  /** Close the tunnel after this long without traffic in either direction (0 = never). */
  idleMs: number;
  /**
   * Asked when the far side ends cleanly: true passes the end on as a clean end, false resets the
   * near side instead (a provider that vanished rather than finished).
   */
  farEndIsClean?: () => Promise<boolean>;
  /** Set when the far socket was opened with this reader: its bytes come through it, not 'data'. */
  farReader?: FastReader;
}

export interface SpliceResult {
  /** Bytes from the far side to the near side. */
  bytesIn: number;
  /** Bytes from the near side to the far side. */
  bytesOut: number;
  /** Why the tunnel ended: `closed` when both sides ended cleanly. */
  outcome: 'closed' | 'near_error' | 'far_error' | 'idle_timeout' | 'far_aborted';
}

export function splice(near: net.Socket, far: net.Socket, options: SpliceOptions): Promise<SpliceResult> {
  return new Promise((resolve) => {
    const result: SpliceResult = { bytesIn: 0, bytesOut: 0, outcome: 'closed' };
    let nearClosed = false;
    let farClosed = false;
    let farEnded = false;
    let nearEnded = false;
    const fail = (outcome: SpliceResult['outcome']): void => {
      if (result.outcome === 'closed') result.outcome = outcome;
      reset(near);
      reset(far);
    };
    const maybeDone = (): void => {
      if (nearClosed && farClosed) resolve(result);
    };

    near.on('data', (chunk: Buffer) => {
      result.bytesOut += chunk.length;
    });
    near.pipe(far);
    if (options.farReader) {
      options.farReader.attach(far, (chunk) => {
        result.bytesIn += chunk.length;
        if (near.write(chunk)) return true;
        near.once('drain', () => far.resume());
        return false;
      });
    } else {
      far.on('data', (chunk: Buffer) => {
        result.bytesIn += chunk.length;
      });
      far.pipe(near, { end: false });
    }

    near.on('end', () => {
      nearEnded = true;
    });
    far.on('end', () => {
      farEnded = true;
      const check = options.farEndIsClean ?? (() => Promise.resolve(true));
      void check().then(
        (clean) => (clean ? near.end() : fail('far_aborted')),
        () => fail('far_aborted'),
      );
    });
    near.on('error', () => fail('near_error'));
    far.on('error', () => fail('far_error'));
    near.on('close', () => {
      nearClosed = true;
      // Gone without a clean end (reset, or destroyed by us): the far side must not wait for it.
      if (!nearEnded) fail('near_error');
      maybeDone();
    });
    far.on('close', () => {
      farClosed = true;
      // Destroyed before a clean end: the near side must learn it as an error.
      if (!farEnded) fail('far_error');
      maybeDone();
    });
    if (options.idleMs > 0) {
      near.setTimeout(options.idleMs, () => fail('idle_timeout'));
    }
  });
}

/** Sends a TCP reset where possible (so the peer sees an error), else just destroys. */
export function reset(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (typeof socket.resetAndDestroy === 'function' && !socket.connecting && socket.readyState !== 'closed') {
    try {
      socket.resetAndDestroy();
      return;
    } catch {
      // Unix-domain sockets have no reset; fall through.
    }
  }
  socket.destroy();
}
