/**
 * Where `swarm secret set` gets the value: standard input when it is not a terminal (one trailing
 * newline stripped), else a prompt with echo off, asked twice. Never the command line, where other
 * users (ps, /proc) and the shell history would see it.
 */
import { StringDecoder } from 'node:string_decoder';
import type { Readable, Writable } from 'node:stream';
import { SwarmError } from '@swarm/core';

export interface SecretInput {
  stdin: Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  /** Where the prompt goes (never stdout, which stays parseable). */
  stderr: Writable;
}

export async function readSecretValue(name: string, io: SecretInput, maxBytes: number): Promise<string> {
  if (!io.stdin.isTTY) return readPiped(io.stdin, maxBytes);
  const first = await promptHidden(io, `value for ${name} (not shown): `);
  const second = await promptHidden(io, 'again, to confirm: ');
  if (first !== second) throw new SwarmError('SECRET_VALUE_INVALID', 'the two entries differ; nothing was stored');
  return first;
}

async function readPiped(stdin: Readable, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Room for the value and a CRLF; anything longer is refused unread.
  for await (const chunk of stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buffer.length;
    if (size > maxBytes + 2) throw new SwarmError('SECRET_VALUE_INVALID', `the secret value on standard input is larger than ${maxBytes} bytes`);
    chunks.push(buffer);
  }
  const bytes = Buffer.concat(chunks);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new SwarmError('SECRET_VALUE_INVALID', 'the secret value on standard input is not UTF-8 text');
  } finally {
    bytes.fill(0);
  }
  return text.endsWith('\r\n') ? text.slice(0, -2) : text.endsWith('\n') ? text.slice(0, -1) : text;
}

const CTRL_C = '\u0003';
const CTRL_D = '\u0004';
const CTRL_U = '\u0015';
const ESC = '\u001b';

/** One line typed with echo off: Enter ends it, Backspace deletes, Ctrl-U clears, Ctrl-C aborts. */
export function promptHidden(io: SecretInput, prompt: string): Promise<string> {
  const { stdin, stderr } = io;
  if (typeof stdin.setRawMode !== 'function') {
    return Promise.reject(new SwarmError('INVALID_ARGUMENT', 'cannot turn echo off on this terminal', { hint: 'pipe the value on standard input instead' }));
  }
  return new Promise((resolve, reject) => {
    const decoder = new StringDecoder('utf8');
    let typed: string[] = [];
    // 0: text; 1: after ESC; 2: inside a CSI/SS3 sequence (arrow keys, bracketed paste markers).
    let escape = 0;
    const finish = (error: SwarmError | null) => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.setRawMode!(false);
      stdin.pause();
      stderr.write('\n');
      if (error) reject(error);
      else resolve(typed.join(''));
    };
    const onEnd = () => finish(null);
    const onData = (chunk: Buffer | string) => {
      for (const char of typeof chunk === 'string' ? chunk : decoder.write(chunk)) {
        if (escape === 1) {
          escape = char === '[' || char === 'O' ? 2 : 0;
          continue;
        }
        if (escape === 2) {
          if (char >= '@' && char <= '~') escape = 0;
          continue;
        }
        if (char === '\r' || char === '\n' || char === CTRL_D) return finish(null);
        if (char === CTRL_C) return finish(new SwarmError('SECRET_ENTRY_INTERRUPTED', 'interrupted; nothing was stored'));
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
        else if (char === CTRL_U) typed = [];
        else if (char === ESC) escape = 1;
        else if (char >= ' ') typed.push(char);
      }
    };
    stderr.write(prompt);
    stdin.setRawMode!(true);
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    stdin.resume();
  });
}
