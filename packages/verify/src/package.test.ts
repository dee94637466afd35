import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { errorCodeInfo } from '@swarm/core';
import * as verify from './index.js';
import { CHECK_CODES } from './errors.js';

const here = path.dirname(fileURLToPath(import.meta.url));

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(file);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [file] : [];
  });
}

describe('@swarm/verify', () => {
  it('registers every check code as a verification error, and the input codes as input errors', () => {
    for (const code of CHECK_CODES) {
      const expected = code === 'WORKFLOW_REF_UNPINNED' ? 'input' : 'verification';
      expect([code, errorCodeInfo(code)?.category]).toEqual([code, expected]);
      expect(errorCodeInfo(code)?.owner).toBe('verify');
    }
    expect(errorCodeInfo('VERIFY_FAILED')?.category).toBe('verification');
    for (const code of ['TRUST_STORE_INVALID', 'TRUST_KEY_INVALID', 'TRUST_KEY_UNKNOWN', 'VERIFY_REPLAY_STORE_UNUSABLE']) {
      expect(errorCodeInfo(code)?.category).toBe('input');
    }
  });

  it('VERIFY_FAILED exits 3 and carries the whole report', () => {
    const report = verify.verifyCertificate({ certificate: Buffer.from('{}') });
    expect(report.verified).toBe(false);
    const error = verify.verificationFailure(report);
    expect(error.code).toBe('VERIFY_FAILED');
    expect(error.exitCode).toBe(3);
    expect(error.details).toBe(report);
  });

  it('imports no module that can open a socket', () => {
    const network = /from\s+['"](node:)?(net|tls|dgram|http|https|http2|dns|undici)(\/[^'"]*)?['"]|\bfetch\s*\(|\bimport\(\s*['"](node:)?(net|tls|dgram|http|https|http2|dns)/;
    const offenders = sources(here).filter((file) => network.test(fs.readFileSync(file, 'utf8')));
    expect(offenders).toEqual([]);
  });
});
