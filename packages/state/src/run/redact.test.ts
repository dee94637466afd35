import { describe, expect, it } from 'vitest';
import { REDACTED, Redactor, redactText } from './redact.js';

function pass(secrets: string[], chunks: string[]): Promise<{ out: string; firstFlushes: string[] }> {
  return new Promise((resolve) => {
    const r = new Redactor(secrets);
    const parts: string[] = [];
    const firstFlushes: string[] = [];
    r.on('data', (c: Buffer) => parts.push(c.toString()));
    for (const chunk of chunks) {
      r.write(Buffer.from(chunk));
      firstFlushes.push(parts.join(''));
    }
    r.end(() => resolve({ out: parts.join(''), firstFlushes }));
  });
}

describe('Redactor', () => {
  it('hides a secret split across chunks', async () => {
    const secret = 'a1b2c3d4e5f6a7b8';
    const { out } = await pass([secret], ['token=a1b2c3', 'd4e5f6a7', 'b8 end']);
    expect(out).toBe(`token=${REDACTED} end`);
    expect(out).not.toContain('a1b2c3d4');
  });

  it('lets ordinary output through immediately', async () => {
    const { firstFlushes } = await pass(['deadbeefcafef00d'], ['started\n']);
    expect(firstFlushes[0]).toBe('started\n');
  });

  it('holds back only a possible secret prefix and releases it when it turns out not to be one', async () => {
    const { firstFlushes, out } = await pass(['secretvalue'], ['x secr', 'et? no\n']);
    expect(firstFlushes[0]).toBe('x ');
    expect(out).toBe('x secret? no\n');
  });

  it('redacts every occurrence in text', () => {
    expect(redactText('k=abcdef k=abcdef', ['abcdef'])).toBe(`k=${REDACTED} k=${REDACTED}`);
  });
});
