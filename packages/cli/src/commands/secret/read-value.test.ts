import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { isSwarmError } from '@swarm/core';
import { readSecretValue } from './read-value.js';

/** A stand-in terminal: what is typed goes in as keystroke chunks; raw mode is recorded. */
function terminal(...keystrokes: Array<string | Buffer>) {
  const stdin = new PassThrough() as PassThrough & { isTTY: boolean; setRawMode: (mode: boolean) => void };
  const modes: boolean[] = [];
  stdin.isTTY = true;
  stdin.setRawMode = (mode) => void modes.push(mode);
  const stderr = new PassThrough();
  let shown = '';
  stderr.on('data', (d: Buffer) => (shown += d.toString()));
  // Each keystroke after the previous one was read, as a person types.
  let next = 0;
  const type = () => {
    if (next < keystrokes.length) stdin.write(keystrokes[next++]!);
    if (next < keystrokes.length) setTimeout(type, 1);
  };
  setTimeout(type, 1);
  return { io: { stdin, stderr }, modes, shown: () => shown };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return isSwarmError(error) ? error.code : `(not a SwarmError: ${String(error)})`;
  }
  return '(no error)';
}

const MAX = 64 * 1024;

describe('secret value input', () => {
  it('reads a pipe to its end and drops one trailing newline', async () => {
    const piped = (text: string | Buffer) => readSecretValue('K', { stdin: Readable.from([Buffer.from(text)]), stderr: new PassThrough() }, MAX);
    expect(await piped('s3cret-value\n')).toBe('s3cret-value');
    expect(await piped('s3cret-value\r\n')).toBe('s3cret-value');
    expect(await piped('s3cret-value\n\n')).toBe('s3cret-value\n');
    expect(await piped('-----BEGIN KEY-----\nabc\n-----END KEY-----')).toBe('-----BEGIN KEY-----\nabc\n-----END KEY-----');
    expect(await codeOf(piped(Buffer.from([0x61, 0x62, 0xff, 0x63, 0x64])))).toBe('SECRET_VALUE_INVALID');
    expect(await codeOf(piped('x'.repeat(MAX + 3)))).toBe('SECRET_VALUE_INVALID');
  });

  it('on a terminal: echo off, asked twice; backspace, Ctrl-U and arrow keys edit, nothing is shown', async () => {
    const t = terminal('s3', 'x\x7f', 'cret\x1b[D', '\r', 'junk\x15', 's3cret\r');
    expect(await readSecretValue('API_KEY', t.io, MAX)).toBe('s3cret');
    expect(t.modes).toEqual([true, false, true, false]);
    expect(t.shown()).toContain('API_KEY');
    expect(t.shown()).not.toContain('s3');
    expect(t.shown()).not.toContain('junk');
  });

  it('on a terminal: two different entries are refused', async () => {
    const t = terminal('first-value\r', 'other-value\r');
    expect(await codeOf(readSecretValue('K', t.io, MAX))).toBe('SECRET_VALUE_INVALID');
    expect(t.modes).toEqual([true, false, true, false]);
  });

  it('on a terminal: Ctrl-C stops and restores the terminal', async () => {
    const t = terminal('half', '\x03');
    expect(await codeOf(readSecretValue('K', t.io, MAX))).toBe('SECRET_ENTRY_INTERRUPTED');
    expect(t.modes).toEqual([true, false]);
  });

  it('multi-byte characters split across reads are kept whole, and backspace removes one character', async () => {
    const bytes = Buffer.from('ключé');
    // A terminal may deliver a character's bytes in two reads.
    const t = terminal(bytes.subarray(0, 3), Buffer.concat([bytes.subarray(3), Buffer.from('xé\x7f\x7f\r')]), 'ключé\r');
    expect(await readSecretValue('K', t.io, MAX)).toBe('ключé');
  });
});
