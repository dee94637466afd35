/** Reading the head of an HTTP/1.x answer from a socket's data, as the proxy's own clients need. */

/** A head longer than this is not an answer from a peer swarm would talk to. */
export const MAX_RESPONSE_HEAD = 16 * 1024;

export type ResponseHead = { kind: 'head'; status: number; text: string; rest: Buffer } | { kind: 'too_long' } | { kind: 'malformed' };

/** Feed it each chunk; it says nothing (null) until the head is complete, too long or not HTTP. */
export function responseHeadReader(limit: number = MAX_RESPONSE_HEAD): (chunk: Buffer) => ResponseHead | null {
  let buffered = Buffer.alloc(0);
  return (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    const end = buffered.indexOf('\r\n\r\n');
    if (end < 0) return buffered.length > limit ? { kind: 'too_long' } : null;
    const text = buffered.subarray(0, end).toString('latin1');
    const status = /^HTTP\/1\.[01] ([0-9]{3})/.exec(text)?.[1];
    if (status === undefined) return { kind: 'malformed' };
    return { kind: 'head', status: Number(status), text, rest: buffered.subarray(end + 4) };
  };
}
