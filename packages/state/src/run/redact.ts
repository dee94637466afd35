import { Transform, type TransformCallback } from 'node:stream';

export const REDACTED = '[REDACTED]';

/**
 * Replaces every occurrence of the given secrets in a byte stream, including occurrences split
 * across chunk boundaries: it holds back only a tail that could be the start of a secret, so
 * ordinary output flows through at once.
 */
/** Shorter strings are not hidden: they would match all over ordinary output. */
export const MIN_SECRET_LENGTH = 4;

export class Redactor extends Transform {
  private readonly secrets: Buffer[];
  private readonly holdBack: number;
  private pending: Buffer = Buffer.alloc(0);

  constructor(secrets: string[]) {
    super();
    this.secrets = [...new Set(secrets.filter((s) => s.length >= MIN_SECRET_LENGTH))]
      .map((s) => Buffer.from(s, 'utf8'))
      .sort((a, b) => b.length - a.length);
    this.holdBack = this.secrets.reduce((m, s) => Math.max(m, s.length - 1), 0);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    const scrubbed = this.scrub(data);
    const keep = this.partialSecretTail(scrubbed);
    this.pending = scrubbed.subarray(scrubbed.length - keep);
    if (scrubbed.length - keep > 0) this.push(scrubbed.subarray(0, scrubbed.length - keep));
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.pending.length > 0) this.push(this.scrub(this.pending));
    callback();
  }

  /** Length of the longest tail of data that could be the start of a secret (held back). */
  private partialSecretTail(data: Buffer): number {
    for (let k = Math.min(this.holdBack, data.length); k > 0; k -= 1) {
      const tail = data.subarray(data.length - k);
      if (this.secrets.some((s) => s.length > k && s.subarray(0, k).equals(tail))) return k;
    }
    return 0;
  }

  private scrub(data: Buffer): Buffer {
    if (this.secrets.length === 0) return data;
    let out = data;
    for (const secret of this.secrets) {
      let at = out.indexOf(secret);
      if (at === -1) continue;
      const parts: Buffer[] = [];
      let from = 0;
      while (at !== -1) {
        parts.push(out.subarray(from, at), Buffer.from(REDACTED));
        from = at + secret.length;
        at = out.indexOf(secret, from);
      }
      parts.push(out.subarray(from));
      out = Buffer.concat(parts);
    }
    return out;
  }
}

export function redactText(text: string, secrets: string[]): string {
  let out = text;
  for (const secret of [...secrets].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length)) {
    out = out.split(secret).join(REDACTED);
  }
  return out;
}
