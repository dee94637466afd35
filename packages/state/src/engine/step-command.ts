/** The step's command as it runs and as the policy and certificate attest it. */
import fs from 'node:fs';
import path from 'node:path';
import { SwarmError, sha256Digest } from '@swarm/core';
import '../engine-errors.js';

export interface StepCommand {
  /** What runs (a step file's path is appended once it is copied into the run directory). */
  argv: string[];
  /** What the policy and certificate attest: the command line, or the script's content digest. */
  attested: unknown;
  /** A step file's bytes, copied into the run directory so what runs is what was hashed. */
  script?: Buffer;
  /** More environment the command needs (an agent's switches, never secret); the operator's grants win. */
  env?: Record<string, string>;
}

export function stepCommand(options: { cwd: string; step?: string; stepFile?: string }): StepCommand {
  if (options.step !== undefined && options.stepFile !== undefined) {
    throw new SwarmError('INVALID_ARGUMENT', 'give either --step or --step-file, not both');
  }
  if (options.stepFile !== undefined) {
    const file = path.resolve(options.cwd, options.stepFile);
    let script: Buffer;
    try {
      if (!fs.statSync(file).isFile()) throw new Error('not a regular file');
      script = fs.readFileSync(file);
    } catch (cause) {
      throw new SwarmError('FILE_NOT_FOUND', `step file ${options.stepFile} is not a readable file`, { details: { path: options.stepFile }, cause });
    }
    return { argv: ['/bin/sh'], attested: { shell: '/bin/sh', script_sha256: sha256Digest(script) }, script };
  }
  if (options.step === undefined || options.step.trim() === '') {
    throw new SwarmError('STEP_MISSING', 'no step given', { hint: 'pass --step "<command>" or --step-file <file>' });
  }
  const argv = ['/bin/sh', '-c', options.step];
  return { argv, attested: argv };
}
