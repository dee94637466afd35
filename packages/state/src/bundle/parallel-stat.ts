/**
 * lstat on a second thread, for the walk of a big quiescent tree: one lstat costs 4–7 µs on a
 * small VM, so a 50,000-entry tree spends a third of its snapshot in them, on one core while the
 * other idles. A worker started when the walk starts (its boot overlaps the directory listing)
 * takes half of the paths and writes their stat fields into shared memory; the walk waits for it
 * synchronously (Atomics.wait), so the walk stays one synchronous function.
 *
 * The worker only reads metadata of paths it is given, in a tree no process can change; a worker
 * that is not up when its share is due, or that fails, leaves its share to the calling thread.
 */
import { Worker } from 'node:worker_threads';

/** Fields per path: mode, size, mtimeMs, ctimeMs, atimeMs, nlink, dev, ino (mode NaN: gone; -1: error). */
export const STAT_FIELDS = 8;

const CTL_READY = 0;
const CTL_DONE = 1;
/** How long a started share may take before the calling thread gives up on it (ms). */
const SHARE_TIMEOUT_MS = 60_000;

const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const ctl = new Int32Array(workerData.control);
Atomics.store(ctl, ${CTL_READY}, 1);
parentPort.once('message', ({ paths, out }) => {
  const f = new Float64Array(out);
  for (let i = 0; i < paths.length; i += 1) {
    const o = i * ${STAT_FIELDS};
    try {
      const s = fs.lstatSync(paths[i], { throwIfNoEntry: false });
      if (!s) { f[o] = NaN; continue; }
      f[o] = s.mode; f[o + 1] = s.size; f[o + 2] = s.mtimeMs; f[o + 3] = s.ctimeMs;
      f[o + 4] = s.atimeMs; f[o + 5] = s.nlink; f[o + 6] = s.dev; f[o + 7] = s.ino;
    } catch {
      f[o] = -1;
    }
  }
  Atomics.store(ctl, ${CTL_DONE}, 1);
  Atomics.notify(ctl, ${CTL_DONE});
});
`;

export class StatHelper {
  readonly #worker: Worker;
  readonly #ctl: Int32Array;

  private constructor() {
    const control = new SharedArrayBuffer(8);
    this.#ctl = new Int32Array(control);
    this.#worker = new Worker(THREAD_SOURCE, { eval: true, execArgv: [], workerData: { control }, stdout: true, stderr: true });
    this.#worker.unref();
    this.#worker.on('error', () => undefined);
  }

  /** A helper, or null where threads cannot be started. */
  static start(): StatHelper | null {
    try {
      return new StatHelper();
    } catch {
      return null;
    }
  }

  /** Whether the worker is up and can take a share now. */
  get ready(): boolean {
    return Atomics.load(this.#ctl, CTL_READY) === 1;
  }

  /**
   * Hands `paths` to the worker; `collect()` blocks until they are done and returns their fields,
   * or null when the worker did not finish (the caller stats them itself).
   */
  share(paths: string[]): { collect: () => Float64Array | null } {
    const out = new SharedArrayBuffer(paths.length * STAT_FIELDS * 8);
    this.#worker.postMessage({ paths, out });
    return {
      collect: () => {
        const result = Atomics.wait(this.#ctl, CTL_DONE, 0, SHARE_TIMEOUT_MS);
        return result === 'timed-out' && Atomics.load(this.#ctl, CTL_DONE) !== 1 ? null : new Float64Array(out);
      },
    };
  }

  close(): void {
    void this.#worker.terminate().catch(() => undefined);
  }
}
