/**
 * The last look before sealing: no granted secret may be carried in a bundle — not in a file's
 * bytes (found across block boundaries too), not in a name, not in a link's target.
 */
import { SwarmError } from '@swarm/core';
import '../errors.js';
import { MIN_SECRET_LENGTH, redactText } from '../run/redact.js';

export class SecretScanner {
  private readonly needles: Buffer[];
  private readonly keep: number;
  private readonly secrets: string[];

  constructor(secrets: string[]) {
    this.secrets = secrets;
    this.needles = [...new Set(secrets.filter((s) => s.length >= MIN_SECRET_LENGTH))].map((s) => Buffer.from(s, 'utf8'));
    this.keep = this.needles.reduce((max, needle) => Math.max(max, needle.length - 1), 0);
  }

  /** Checks a name or a link target. */
  checkText(bundlePath: string, text: string): void {
    if (this.find(Buffer.from(text, 'utf8'))) throw holdsSecret(redactText(bundlePath, this.secrets));
  }

  /** A scan of one file's content, fed block by block. */
  stream(bundlePath: string): { update(block: Buffer): void } {
    let tail = Buffer.alloc(0);
    return {
      update: (block: Buffer) => {
        if (this.needles.length === 0) return;
        const window = tail.length > 0 ? Buffer.concat([tail, block]) : block;
        if (this.find(window)) throw holdsSecret(redactText(bundlePath, this.secrets));
        tail = Buffer.from(window.subarray(Math.max(0, window.length - this.keep)));
      },
    };
  }

  private find(bytes: Buffer): boolean {
    return this.needles.some((needle) => bytes.includes(needle));
  }
}

function holdsSecret(bundlePath: string): SwarmError {
  return new SwarmError('STATE_SNAPSHOT_HOLDS_SECRET', `${bundlePath} holds the value of a secret granted to the step; nothing was sealed`, {
    details: { path: bundlePath },
    hint: 'remove the value from the workspace or home (or stop writing it there) and run the step again',
  });
}
