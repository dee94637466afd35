/**
 * Waiting for a long-running command to be told to stop: an AbortSignal when the caller has one,
 * else SIGINT or SIGTERM (the handlers are removed afterwards, so a second signal kills as usual).
 */
export function waitForStop(signal?: AbortSignal, also?: Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.removeListener('SIGINT', done);
      process.removeListener('SIGTERM', done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    if (signal) {
      if (signal.aborted) return resolve();
      signal.addEventListener('abort', done, { once: true });
    } else {
      process.once('SIGINT', done);
      process.once('SIGTERM', done);
    }
    void also?.then(done, done);
  });
}
