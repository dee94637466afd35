import type net from 'node:net';
import { describe, expect, it } from 'vitest';
import { createFastReader } from './fast-read.js';

const socket = { resume: () => undefined } as unknown as net.Socket;

/** Node's call pattern: buffer() once per socket, then callback(n, buf) followed by buffer(). */
function read(reader: ReturnType<typeof createFastReader>, space: Buffer, bytes: number, fill: number): Buffer {
  space.fill(fill, 0, bytes);
  (reader.onread.callback as (n: number, b: Buffer) => boolean)(bytes, space);
  return (reader.onread.buffer as () => Buffer)();
}

function overlaps(a: Buffer, b: Buffer): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.length && b.byteOffset < a.byteOffset + a.length;
}

describe('fast reads', () => {
  it('never lets two sockets, or a socket and a chunk it handed out, share memory', () => {
    const a = createFastReader();
    const b = createFastReader();
    const chunksA: Buffer[] = [];
    const chunksB: Buffer[] = [];
    a.attach(socket, (c) => (chunksA.push(c), true));
    b.attach(socket, (c) => (chunksB.push(c), true));
    let spaceA = (a.onread.buffer as () => Buffer)();
    let spaceB = (b.onread.buffer as () => Buffer)();
    expect(overlaps(spaceA, spaceB)).toBe(false);
    for (let round = 0; round < 60; round += 1) {
      spaceA = read(a, spaceA, 1 + ((round * 7919) % spaceA.length), round % 250);
      spaceB = read(b, spaceB, spaceB.length, (round + 100) % 250);
      expect(overlaps(spaceA, spaceB)).toBe(false);
      for (const chunk of [...chunksA, ...chunksB]) {
        expect(overlaps(chunk, spaceA) || overlaps(chunk, spaceB)).toBe(false);
      }
    }
    chunksA.forEach((chunk, round) => expect(chunk.every((byte) => byte === round % 250)).toBe(true));
    chunksB.forEach((chunk, round) => expect(chunk.every((byte) => byte === (round + 100) % 250)).toBe(true));
  });

  it('holds bytes that arrive before a sink is attached, and stops reading meanwhile', () => {
    const reader = createFastReader();
    const space = (reader.onread.buffer as () => Buffer)();
    space.write('early');
    expect((reader.onread.callback as (n: number, b: Buffer) => boolean)(5, space)).toBe(false);
    const got: string[] = [];
    let resumed = false;
    reader.attach({ resume: () => (resumed = true) } as unknown as net.Socket, (c) => (got.push(c.toString()), true));
    expect(got).toEqual(['early']);
    expect(resumed).toBe(true);
  });
});
