import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validateDocument } from '@swarm/core';

const BIN = fileURLToPath(new URL('../bin/swarm.js', import.meta.url));

let tmp: string;
let home: string;
let env: NodeJS.ProcessEnv;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-e2e-secrets-'));
  home = path.join(tmp, 'home');
  env = { PATH: process.env.PATH, HOME: path.join(tmp, 'user'), SWARM_HOME: home, NO_COLOR: '1' };
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs the built CLI; stdin is a pipe carrying `input` (never a terminal here). */
function swarm(args: string[], input = '') {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, env, input, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json(args: string[], input = '') {
  const r = swarm([...args, '--json'], input);
  const lines = r.stdout.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  const envelope = JSON.parse(lines[0]!);
  expect(validateDocument('output', envelope).errors).toEqual([]);
  return { ...r, envelope };
}

/** Every file under `dir` whose bytes hold `value` as is, or in base64, base64url or hex. */
function filesHolding(dir: string, value: string): string[] {
  const forms = [value, Buffer.from(value).toString('base64'), Buffer.from(value).toString('base64url'), Buffer.from(value).toString('hex')].map((f) =>
    Buffer.from(f),
  );
  const hits: string[] = [];
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    const bytes = fs.readFileSync(file);
    if (forms.some((f) => bytes.includes(f))) hits.push(path.relative(dir, file));
  }
  return hits;
}

const VALUE = 'sk-e2e-7c1d4b9a0f3e6a52';

describe('swarm secret and swarm audit (built binary)', () => {
  it('set reads the value from stdin; it is in no file under SWARM_HOME and not in any output', () => {
    const created = json(['secret', 'set', 'OPENAI_API_KEY'], `${VALUE}\n`);
    expect(created.code).toBe(0);
    expect(created.envelope).toMatchObject({ message: 'created secret OPENAI_API_KEY', data: { name: 'OPENAI_API_KEY', created: true } });
    const replaced = swarm(['secret', 'set', 'OPENAI_API_KEY'], VALUE);
    expect(replaced.code).toBe(0);
    expect(replaced.stdout).toContain('replaced secret OPENAI_API_KEY');
    expect(json(['secret', 'set', 'OTHER'], 'another-value-here').code).toBe(0);

    const listed = json(['secret', 'list']);
    expect(listed.envelope.data.secrets.map((s: { name: string }) => s.name)).toEqual(['OPENAI_API_KEY', 'OTHER']);
    expect(Object.keys(listed.envelope.data.secrets[0]).sort()).toEqual(['created_at', 'name', 'updated_at']);
    const human = swarm(['secret', 'list']);
    expect(human.stdout).toContain('OPENAI_API_KEY');

    // Positive control: the search finds the value where it is, in any of the forms it looks for.
    const control = path.join(tmp, 'control');
    fs.mkdirSync(control);
    fs.writeFileSync(path.join(control, 'plain'), `x${VALUE}x`);
    fs.writeFileSync(path.join(control, 'b64'), Buffer.from(VALUE).toString('base64'));
    expect(filesHolding(control, VALUE).sort()).toEqual(['b64', 'plain']);

    expect(fs.readdirSync(path.join(home, 'secrets')).sort()).toEqual(['OPENAI_API_KEY.secret', 'OTHER.secret']);
    expect(filesHolding(home, VALUE)).toEqual([]);
    expect(filesHolding(home, 'another-value-here')).toEqual([]);
    for (const r of [created, replaced, listed, human, swarm(['audit', 'list']), json(['audit', 'list'])]) {
      expect(r.stdout + r.stderr).not.toContain(VALUE);
    }
    expect(fs.statSync(path.join(home, 'secrets')).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(home, 'secrets', 'OPENAI_API_KEY.secret')).mode & 0o777).toBe(0o600);
  });

  it('the audit log records set, remove, and verify passes on it', () => {
    swarm(['secret', 'set', 'A_KEY'], VALUE);
    swarm(['secret', 'set', 'B_KEY'], VALUE);
    expect(swarm(['secret', 'rm', 'A_KEY']).code).toBe(0);
    const log = json(['audit', 'list']).envelope.data.entries;
    expect(log.map((e: { seq: number; action: string; name: string }) => [e.seq, e.action, e.name])).toEqual([
      [1, 'set', 'A_KEY'],
      [2, 'set', 'B_KEY'],
      [3, 'remove', 'A_KEY'],
    ]);
    expect(json(['audit', 'list', '--name', 'A_KEY', '--limit', '1']).envelope.data.entries.map((e: { seq: number }) => e.seq)).toEqual([3]);
    expect(json(['audit', 'list', '--limit', 'x']).code).toBe(2);
    const verified = json(['audit', 'verify']);
    expect(verified.code).toBe(0);
    expect(verified.envelope.data).toMatchObject({ ok: true, entries: 3 });
    expect(fs.readFileSync(path.join(home, 'audit.log'), 'utf8')).not.toContain(VALUE);
  });

  it('rm removes the secret; an unknown one exits 2 with SECRET_NOT_FOUND', () => {
    swarm(['secret', 'set', 'GONE'], VALUE);
    const removed = json(['secret', 'rm', 'GONE']);
    expect(removed.code).toBe(0);
    expect(removed.envelope.data).toEqual({ name: 'GONE' });
    expect(json(['secret', 'list']).envelope.data.secrets).toEqual([]);
    const again = json(['secret', 'rm', 'GONE']);
    expect(again.code).toBe(2);
    expect(again.envelope.error.code).toBe('SECRET_NOT_FOUND');
  });

  it('a bad name exits 2 with SECRET_NAME_INVALID; a short or empty value with SECRET_VALUE_INVALID; nothing is stored', () => {
    for (const name of ['1ABC', 'A-B', 'a.b']) {
      const r = json(['secret', 'set', name], VALUE);
      expect(r.code, name).toBe(2);
      expect(r.envelope.error.code, name).toBe('SECRET_NAME_INVALID');
    }
    for (const value of ['abc\n', '', '\n']) {
      const r = json(['secret', 'set', 'SHORT'], value);
      expect(r.code, JSON.stringify(value)).toBe(2);
      expect(r.envelope.error.code, JSON.stringify(value)).toBe('SECRET_VALUE_INVALID');
    }
    expect(json(['secret', 'list']).envelope.data.secrets).toEqual([]);
  });

  it('a value given on the command line is refused, as an extra argument or as an option', () => {
    for (const args of [
      ['secret', 'set', 'ARGV_KEY', VALUE],
      ['secret', 'set', 'ARGV_KEY', '--value', VALUE],
      ['secret', 'set', `ARGV_KEY=${VALUE}`],
    ]) {
      const r = json(args, 'from-stdin-value');
      expect(r.code, args.join(' ')).toBe(2);
      expect(['USAGE', 'SECRET_NAME_INVALID'], args.join(' ')).toContain(r.envelope.error.code);
    }
    expect(json(['secret', 'list']).envelope.data.secrets).toEqual([]);
    // Positive control: the same name with the value on stdin is stored.
    expect(json(['secret', 'set', 'ARGV_KEY'], VALUE).code).toBe(0);
  });

  it('audit verify exits 3 with the line and reason after a line is edited', () => {
    swarm(['secret', 'set', 'A_KEY'], VALUE);
    swarm(['secret', 'set', 'B_KEY'], VALUE);
    swarm(['secret', 'set', 'C_KEY'], VALUE);
    expect(swarm(['audit', 'verify']).code).toBe(0);
    const file = path.join(home, 'audit.log');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"B_KEY"', '"Z_KEY"'));
    const r = json(['audit', 'verify']);
    expect(r.code).toBe(3);
    expect(r.envelope.error).toMatchObject({ code: 'AUDIT_CHAIN_BROKEN', category: 'verification', details: { line: 2, reason: 'edited' } });
    const human = swarm(['audit', 'verify']);
    expect(human.code).toBe(3);
    expect(human.stderr).toContain('AUDIT_CHAIN_BROKEN');
    expect(human.stderr).toContain('line 2');
    expect(json(['audit', 'list']).code).toBe(3);
    // An append checks the log's end against audit.head (not the whole log): with the last line
    // edited too, nothing more is recorded, so no secret changes either.
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"C_KEY"', '"Y_KEY"'));
    const blocked = json(['secret', 'set', 'D_KEY'], VALUE);
    expect(blocked.code).toBe(3);
    expect(blocked.envelope.error.code).toBe('AUDIT_CHAIN_BROKEN');
    expect(fs.existsSync(path.join(home, 'secrets', 'D_KEY.secret'))).toBe(false);
  });

  it('a tampered secret file exits 3 with SECRET_UNREADABLE when listed', () => {
    swarm(['secret', 'set', 'A_KEY'], VALUE);
    const file = path.join(home, 'secrets', 'A_KEY.secret');
    fs.writeFileSync(file, '{"format":"swarm-secret/v1"}');
    const r = json(['secret', 'list']);
    expect(r.code).toBe(3);
    expect(r.envelope.error.code).toBe('SECRET_UNREADABLE');
  });
});
