import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as fixtures from '@swarm/test-utils';
import { codeOf, patch, thrown } from '@swarm/test-utils';
import type { SwarmError } from './errors.js';
import { parseStrictJson } from './strict-json.js';
import { SCHEMA_NAMES, assertValidDocument, isSchemaName, validateDocument, type SchemaName } from './validate.js';

const schemasDir = fileURLToPath(new URL('../../../schemas/', import.meta.url));
const UPPER = `sha256:${'ABCDEF0123456789'.repeat(4)}`;

function badPaths(schema: SchemaName, document: unknown): string[] {
  const report = validateDocument(schema, document);
  return [...new Set(report.errors.map((e) => e.path))].sort();
}

const VALID: Array<[string, SchemaName, () => unknown]> = [
  ['swarm certificate', 'certificate', fixtures.swarmCertificate],
  ['v1 certificate', 'certificate', fixtures.certificateV1],
  ['swarm node', 'node', fixtures.swarmNode],
  ['v1 node', 'node', fixtures.nodeV1],
  ['swarm result', 'result', fixtures.swarmResult],
  ['v1 result', 'result', fixtures.resultV1],
  ['swarm next_tokens', 'next_tokens', fixtures.swarmNextTokens],
  ['v1 next_tokens', 'next_tokens', fixtures.nextTokensV1],
  ['policy', 'policy', fixtures.swarmPolicy],
  ['capability v1', 'capability', () => fixtures.capabilityV1()],
  ['capability v2', 'capability', () => fixtures.capabilityV2()],
  ['ticket', 'ticket', fixtures.ticket],
  ['ledger entry', 'ledger', fixtures.ledgerEntry],
  ['ok envelope', 'output', fixtures.okEnvelope],
  ['error envelope', 'output', fixtures.errorEnvelope],
];

describe('validateDocument', () => {
  it('knows exactly the schemas in schemas/', () => {
    const files = fs
      .readdirSync(schemasDir)
      .filter((f) => f.endsWith('.schema.json') && f !== 'defs.schema.json')
      .map((f) => f.replace(/\.schema\.json$/, ''))
      .sort();
    expect([...SCHEMA_NAMES].sort()).toEqual(files);
    expect(isSchemaName('certificate')).toBe(true);
    expect(isSchemaName('defs')).toBe(false);
  });

  it('every contract has a valid fixture here', () => {
    expect([...new Set(VALID.map(([, schema]) => schema))].sort()).toEqual([...SCHEMA_NAMES].sort());
  });

  it.each(VALID)('accepts a %s', (_label, schema, build) => {
    expect(validateDocument(schema, build())).toEqual({ schema, valid: true, errors: [] });
  });

  it('throws SCHEMA_UNKNOWN for a name that is not a contract', () => {
    expect(codeOf(() => validateDocument('widget' as SchemaName, {}))).toBe('SCHEMA_UNKNOWN');
  });

  it('reports every problem at once, each with its JSON Pointer', () => {
    const document = patch(fixtures.swarmCertificate(), {
      '/job_id': undefined,
      '/mode': 'batch',
      '/parent_state/ratchet_step': -1,
      '/result/new_state/bundle_sha256': 'abc',
      '/runtime/runner_class': '   ',
    });
    expect(badPaths('certificate', document)).toEqual(
      ['/job_id', '/mode', '/parent_state/ratchet_step', '/result/new_state/bundle_sha256', '/runtime/runner_class'].sort(),
    );
  });

  it('reports a blank string as a missing value', () => {
    for (const blank of ['', ' ', '\t\n']) {
      const report = validateDocument('result', patch(fixtures.swarmResult(), { '/run_id': blank }));
      expect(report.errors).toEqual([expect.objectContaining({ path: '/run_id', keyword: 'required' })]);
    }
  });

  it('rejects unknown critical_ keys in a certificate at any depth', () => {
    const document = patch(fixtures.certificateV1(), {
      '/critical_top': 1,
      '/runtime/critical_two': 2,
      '/result/new_state/critical_three': 3,
      '/extensions': [{ nested: { critical_in_array: true } }],
      '/runtime/not_critical_x': 'fine',
    });
    const report = validateDocument('certificate', document);
    expect(report.errors.filter((e) => e.keyword === 'critical').map((e) => e.path).sort()).toEqual(
      ['/critical_top', '/runtime/critical_two', '/result/new_state/critical_three', '/extensions/0/nested/critical_in_array'].sort(),
    );
    expect(report.errors.every((e) => e.keyword === 'critical')).toBe(true);
  });

  it('escapes / and ~ in reported paths', () => {
    const report = validateDocument('certificate', patch(fixtures.certificateV1(), { '/critical_a~1b~0c': true }));
    expect(report.errors.map((e) => e.path)).toEqual(['/critical_a~1b~0c']);
    expect(Object.keys(patch(fixtures.certificateV1(), { '/critical_a~1b~0c': true }))).toContain('critical_a/b~c');
  });

  it.each([
    ['an empty nonce', { '/replay/nonce': '' }, ['/replay/nonce']],
    ['a blank nonce', { '/replay/nonce': '  ' }, ['/replay/nonce']],
    ['expires_at_unix 0', { '/replay/expires_at_unix': 0 }, ['/replay/expires_at_unix']],
    ['a negative expiry', { '/replay/expires_at_unix': -1 }, ['/replay/expires_at_unix']],
    ['a fractional expiry', { '/replay/expires_at_unix': 1.5 }, ['/replay/expires_at_unix']],
    ['an expiry as text', { '/replay/expires_at_unix': '1700003600' }, ['/replay/expires_at_unix']],
    ['no nonce and no expiry', { '/replay': {} }, ['/replay/expires_at_unix', '/replay/nonce']],
  ])('rejects a replay block with %s', (_label, change, paths) => {
    expect(badPaths('certificate', patch(fixtures.swarmCertificate(), change))).toEqual(paths);
  });

  it('accepts a certificate without a replay block', () => {
    expect(validateDocument('certificate', patch(fixtures.swarmCertificate(), { '/replay': undefined })).valid).toBe(true);
  });

  it('holds swarm-written documents to sha256:<64 lowercase hex>, and only those', () => {
    const swarmDocs: Array<[SchemaName, () => Record<string, unknown>, string]> = [
      ['certificate', fixtures.swarmCertificate, '/result/response_sha256'],
      ['node', fixtures.swarmNode, '/state_db/snapshot_hash'],
      ['result', fixtures.swarmResult, '/bundle_sha256'],
      ['policy', fixtures.swarmPolicy, '/step/command_sha256'],
    ];
    for (const [schema, build, pointer] of swarmDocs) {
      for (const bad of [UPPER, 'sha256:abc', `sha256:${'a'.repeat(65)}`]) {
        expect(badPaths(schema, patch(build(), { [pointer]: bad })), `${schema} ${bad}`).toEqual([pointer]);
        // The same digest in a document without the swarm block is another implementation's business.
        expect(validateDocument(schema, patch(build(), { [pointer]: bad, '/swarm': undefined })).valid).toBe(true);
      }
    }
  });

  it('checks digest form in arrays and in fields the schema does not know, when swarm wrote the document', () => {
    const document = patch(fixtures.swarmNode(), { '/tags': ['ok', UPPER], '/extra': { d: 'sha256:12' } });
    expect(badPaths('node', document)).toEqual(['/extra/d', '/tags/1']);
  });

  it('rejects a digest without the sha256: prefix in any document', () => {
    const hex = fixtures.digestOf('x').slice(7);
    expect(badPaths('certificate', patch(fixtures.certificateV1(), { '/request_hash': hex }))).toEqual(['/request_hash']);
    expect(badPaths('certificate', patch(fixtures.swarmCertificate(), { '/request_hash': hex }))).toEqual(['/request_hash']);
  });

  it('names the failing fields of a conditional requirement, not the document', () => {
    const { audience: _a, issuer: _i, ...payload } = fixtures.capabilityV2();
    expect(badPaths('capability', payload)).toEqual(['/audience', '/issuer']);
  });

  it('names the field that is not allowed, not the object holding it', () => {
    expect(badPaths('output', { ...fixtures.okEnvelope(), extra: 1 })).toEqual(['/extra']);
    const report = validateDocument('output', patch(fixtures.errorEnvelope(), { '/error/stack': 'x' }));
    expect(report.errors).toEqual([expect.objectContaining({ path: '/error/stack', keyword: 'additionalProperties' })]);
  });

  it('reports an envelope against the shape its status names', () => {
    expect(badPaths('output', patch(fixtures.errorEnvelope(), { '/error/category': 'fatal' }))).toEqual(['/error/category']);
    expect(badPaths('output', patch(fixtures.okEnvelope(), { '/data': undefined }))).toEqual(['/data']);
    expect(badPaths('output', patch(fixtures.okEnvelope(), { '/status': 'warn' }))).toEqual(['/status']);
  });

  it('reports no field twice for the same reason', () => {
    const report = validateDocument('node', patch(fixtures.nodeV1(), { '/attestation/artifact_hash': 'md5:x' }));
    const keys = report.errors.map((e) => `${e.path} ${e.keyword} ${e.message}`);
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe('assertValidDocument', () => {
  it('throws SCHEMA_INVALID with every bad field in details', () => {
    const error = thrown(() => assertValidDocument('ledger', patch(fixtures.ledgerEntry(), { '/status': 'done', '/attempts': -1 }))) as SwarmError;
    expect(error.code).toBe('SCHEMA_INVALID');
    const details = error.details as { schema: string; errors: Array<{ path: string }> };
    expect(details.schema).toBe('ledger');
    expect(details.errors.map((e) => e.path).sort()).toEqual(['/attempts', '/status']);
  });

  it('returns quietly for a valid document', () => {
    expect(() => assertValidDocument('ticket', fixtures.ticket())).not.toThrow();
  });
});

describe('integers as written (numbers noted by parseStrictJson)', () => {
  /** Serialises the document with one field's number text replaced, and validates the parse. */
  function validateText(schema: SchemaName, document: object, from: string, to: string) {
    const text = JSON.stringify(document);
    expect(text).toContain(from);
    const parsed = parseStrictJson(text.replace(from, to));
    if (!parsed.ok) throw new Error(parsed.reason);
    return validateDocument(schema, parsed.value, { numbers: parsed.numbers });
  }
  const integerPaths = (report: ReturnType<typeof validateDocument>) => report.errors.filter((e) => e.keyword === 'integer').map((e) => e.path);

  it.each([
    ['1.0', '"ratchet_step":1.0'],
    ['1e0', '"ratchet_step":1e0'],
    ['2^64', '"ratchet_step":18446744073709551616'],
  ])('rejects a certificate ratchet_step written as %s, although it parses to an integer', (_label, to) => {
    const doc = fixtures.swarmCertificate();
    const report = validateText('certificate', doc, `"ratchet_step":${(doc.result as { new_state: { ratchet_step: number } }).new_state.ratchet_step}`, to);
    expect(report.valid).toBe(false);
    expect(integerPaths(report)).toEqual(['/result/new_state/ratchet_step']);
  });

  it('accepts the same field written as a plain integer, up to 2^64-1 (control)', () => {
    const doc = fixtures.swarmCertificate();
    const from = `"ratchet_step":${(doc.result as { new_state: { ratchet_step: number } }).new_state.ratchet_step}`;
    expect(validateText('certificate', doc, from, from).valid).toBe(true);
    expect(integerPaths(validateText('certificate', doc, from, '"ratchet_step":18446744073709551615'))).toEqual([]);
  });

  it('rejects replay.expires_at_unix and a capability version written as floats', () => {
    const cert = fixtures.swarmCertificate();
    const expires = (cert.replay as { expires_at_unix: number }).expires_at_unix;
    expect(integerPaths(validateText('certificate', cert, `"expires_at_unix":${expires}`, `"expires_at_unix":${expires}.0`))).toEqual(['/replay/expires_at_unix']);
    // version is an enum of integers, not an integer type: still an integer position.
    expect(integerPaths(validateText('capability', fixtures.capabilityV1(), '"version":1', '"version":1.0'))).toEqual(['/version']);
  });

  it('leaves number fields alone: limits.timeout_s may be written 600.0 or 6e2', () => {
    const policy = fixtures.swarmPolicy();
    const timeout = (policy.limits as { timeout_s: number }).timeout_s;
    expect(validateText('policy', policy, `"timeout_s":${timeout}`, '"timeout_s":6e2').valid).toBe(true);
    expect(validateText('policy', policy, `"timeout_s":${timeout}`, '"timeout_s":600.0').valid).toBe(true);
  });
});
