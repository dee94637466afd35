/**
 * Bulk reads for the relay. Node reads sockets in 64 KiB pieces, one callback per piece; a relay
 * spends much of its time in that per-piece work. Here a socket that keeps filling its reads gets
 * larger ones (up to 1 MiB), carved from a slab shared by every socket, and chunks go straight to
 * a sink instead of through stream events. Slab space is never handed out twice (a slab is freed
 * once every chunk cut from it is garbage), so a chunk can be written asynchronously.
 */
import type net from 'node:net';

const SLAB_BYTES = 4 * 1024 * 1024;
const FIRST_READ_BYTES = 64 * 1024;
const MAX_READ_BYTES = 1024 * 1024;
/** Below this, what is left of a socket's read space is dropped rather than read into. */
const MIN_READ_BYTES = 16 * 1024;

let slab = Buffer.allocUnsafe(0);
let slabOffset = 0;

/** Reserves space for one socket's reads; it is never handed out again. */
function carve(bytes: number): Buffer {
  if (slab.length - slabOffset < bytes) {
    slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, bytes));
    slabOffset = 0;
  }
  const space = slab.subarray(slabOffset, slabOffset + bytes);
  slabOffset += bytes;
  return space;
}

/** Takes a chunk; returns false to stop reading until the socket is resumed. */
export type ChunkSink = (chunk: Buffer) => boolean;

export interface FastReader {
  /** Options for net.connect: reads go to the sink set by attach(). */
  onread: net.OnReadOpts;
  /** Sets where chunks go; chunks that arrived before are delivered first. */
  attach(socket: net.Socket, sink: ChunkSink): void;
}

/**
 * Node asks `buffer()` for the space of a socket's next reads once at the start and again after
 * each callback; the space stays the socket's until then, so it is reserved, and what a short
 * read leaves of it is used for the next read.
 */
export function createFastReader(): FastReader {
  let readSize = FIRST_READ_BYTES;
  let space: Buffer | null = null;
  let sink: ChunkSink | null = null;
  const early: Buffer[] = [];
  return {
    onread: {
      buffer: () => {
        if (!space || space.length < MIN_READ_BYTES) space = carve(readSize);
        return space;
      },
      callback: (bytes: number, buffer: Uint8Array) => {
        const chunk = Buffer.from(buffer.buffer, buffer.byteOffset, bytes);
        // A full read means more is queued: ask for more next time.
        if (bytes === buffer.length && readSize < MAX_READ_BYTES) readSize *= 2;
        space = Buffer.from(buffer.buffer, buffer.byteOffset + bytes, buffer.length - bytes);
        if (!sink) {
          // Nobody to take it yet (a destination that speaks first): hold it and stop reading.
          early.push(chunk);
          return false;
        }
        return sink(chunk);
      },
    },
    attach(socket, next) {
      sink = next;
      let flowing = true;
      for (const chunk of early.splice(0)) flowing = next(chunk) && flowing;
      if (flowing) socket.resume();
    },
  };
}
