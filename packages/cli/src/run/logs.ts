import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { cancelRun as cancel, runFinished, runLogPath } from '@swarm/state';

export interface FollowOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  runId: string;
  follow: boolean;
  write?: (chunk: Buffer) => void;
  pollMs?: number;
}

/** Prints a step log; with follow, keeps reading appended bytes until the run finishes. */
export async function followRunLog(options: FollowOptions): Promise<{ run_id: string; file: string; bytes: number; log: string | null }> {
  const { file } = await runLogPath({ cwd: options.cwd, env: options.env, runId: options.runId });
  let offset = 0;
  const chunks: Buffer[] = [];
  const drain = () => {
    let size: number;
    try {
      size = fs.statSync(file).size;
    } catch {
      return; // not written yet, or removed with a discarded run
    }
    if (size <= offset) return;
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(size - offset);
      fs.readSync(fd, buf, 0, buf.length, offset);
      offset = size;
      if (options.write) options.write(buf);
      else chunks.push(buf);
    } finally {
      fs.closeSync(fd);
    }
  };
  drain();
  if (options.follow) {
    for (;;) {
      const finished = await runFinished({ cwd: options.cwd, env: options.env, runId: options.runId });
      drain();
      if (finished) break;
      await sleep(options.pollMs ?? 200);
    }
  }
  return { run_id: options.runId, file, bytes: offset, log: options.write ? null : Buffer.concat(chunks).toString('utf8') };
}

export const cancelRun = cancel;
