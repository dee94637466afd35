import { describe, expect, it } from 'vitest';
import { responseHeadReader } from './http-head.js';

describe('reading an answer head', () => {
  it('waits for the whole head across chunks, and keeps what follows it', () => {
    const read = responseHeadReader();
    expect(read(Buffer.from('HTTP/1.1 200 Connection est'))).toBeNull();
    const head = read(Buffer.from('ablished\r\nX-A: 1\r\n\r\nfirst bytes'));
    expect(head).toMatchObject({ kind: 'head', status: 200, text: 'HTTP/1.1 200 Connection established\r\nX-A: 1' });
    expect(head?.kind === 'head' && head.rest.toString()).toBe('first bytes');
  });

  it('gives up on a head over the limit and on an answer that is not HTTP', () => {
    const long = responseHeadReader(32);
    expect(long(Buffer.alloc(20, 'a'))).toBeNull();
    expect(long(Buffer.alloc(20, 'a'))).toEqual({ kind: 'too_long' });
    expect(responseHeadReader()(Buffer.from('SSH-2.0-OpenSSH\r\n\r\n'))).toEqual({ kind: 'malformed' });
  });
});
