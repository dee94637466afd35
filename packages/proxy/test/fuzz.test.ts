/**
 * A seeded fuzz of request heads: a few thousand random, garbled, truncated and oversized heads,
 * each on its own connection. Every one must get an explicit answer or a close in bounded time,
 * and the broker must keep serving afterwards. Bounded in count (FUZZ_CASES) and time.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, prng, proxyRequest, startBroker, startOrigin, waitFor, type Origin, type TestBroker } from './helpers.js';

const SEED = 0x5eed_2025;
const FUZZ_CASES = 3000;
const CONCURRENCY = 64;
const PER_CASE_TIMEOUT_MS = 5_000;
const ALLOWED_STATUSES = new Set([200, 400, 403, 404, 407, 408, 431, 501, 502, 504]);

type Outcome = { kind: 'answered'; status: number } | { kind: 'closed' } | { kind: 'timeout' };

function send(port: number, bytes: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let text = '';
    let done = false;
    const finish = (outcome: Outcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout' }), PER_CASE_TIMEOUT_MS);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const line = /^HTTP\/1\.1 (\d{3}) [^\r\n]*\r\n/.exec(text);
      if (line) finish({ kind: 'answered', status: Number(line[1]) });
      else if (text.length > 64 && !text.startsWith('HTTP/1.1 ')) finish({ kind: 'answered', status: -1 });
    });
    socket.on('end', () => finish({ kind: 'closed' }));
    socket.on('close', () => finish({ kind: 'closed' }));
    socket.on('error', () => finish({ kind: 'closed' }));
    socket.on('connect', () => {
      socket.end(bytes);
    });
  });
}

function makeCases(originPort: number, goodAuth: string): Buffer[] {
  const random = prng(SEED);
  const int = (n: number): number => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const templates = [
    `GET http://127.0.0.1:${originPort}/hello HTTP/1.1\r\nHost: 127.0.0.1\r\nProxy-Authorization: ${goodAuth}\r\n\r\n`,
    `CONNECT 127.0.0.1:${originPort} HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\nProxy-Authorization: ${goodAuth}\r\n\r\n`,
    `POST http://127.0.0.1:${originPort}/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nProxy-Authorization: ${goodAuth}\r\n\r\nhello`,
    `GET http://example.invalid/ HTTP/1.1\r\nHost: example.invalid\r\n\r\n`,
    `CONNECT [::1]:443 HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n\r\n`,
    `GET http://127.0.0.1:${originPort}/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n`,
    `GET /swarm/v1/provider HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: swarm-provider/1\r\nProxy-Authorization: ${goodAuth}\r\n\r\n`,
    `GET /swarm/v1/tunnel/${'0'.repeat(32)} HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: swarm-tunnel/1\r\n\r\n`,
    'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
  ];
  const specials = ['\0', '\r', '\n', '\r\n', ' ', ':', '\x7f', '\xff', '%', '@', '[', ']', '\t', '*'];
  const cases: Buffer[] = [];
  for (let i = 0; i < FUZZ_CASES; i += 1) {
    const kind = int(10);
    if (kind === 0) {
      cases.push(Buffer.from(Array.from({ length: int(2_000) }, () => int(256))));
      continue;
    }
    if (kind === 1) {
      cases.push(Buffer.from(`GET http://127.0.0.1:${originPort}/ HTTP/1.1\r\nX: ${'a'.repeat(17_000 + int(20_000))}\r\n\r\n`));
      continue;
    }
    let text = pick(templates);
    const mutations = 1 + int(4);
    for (let m = 0; m < mutations; m += 1) {
      const at = int(text.length + 1);
      switch (int(5)) {
        case 0: // replace a character
          text = text.slice(0, at) + String.fromCharCode(int(256)) + text.slice(at + 1);
          break;
        case 1: // insert something nasty
          text = text.slice(0, at) + pick(specials) + text.slice(at);
          break;
        case 2: // delete a range
          text = text.slice(0, at) + text.slice(at + 1 + int(20));
          break;
        case 3: // duplicate a range
          text = text.slice(0, at) + text.slice(at, at + int(200)) + text.slice(at);
          break;
        default: // truncate
          text = text.slice(0, at);
      }
    }
    cases.push(Buffer.from(text, 'latin1'));
  }
  return cases;
}

describe('fuzzing the broker with garbled request heads', () => {
  let origin: Origin;
  let b: TestBroker;

  beforeAll(async () => {
    origin = await startOrigin();
    b = await startBroker([`127.0.0.1:${origin.port}`], { timeouts: { headersMs: 1_000, idleMs: 2_000, responseMs: 2_000 } });
  });

  afterAll(async () => {
    await b.close();
    await origin.close();
  });

  it(`answers or closes every one of ${FUZZ_CASES} heads in bounded time and keeps serving`, { timeout: 90_000 }, async () => {
    const cases = makeCases(origin.port, basic(b.ticket.session_id, b.ticket.secret));
    const started = Date.now();
    const outcomes: Outcome[] = new Array(cases.length);
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < cases.length) {
          const index = next;
          next += 1;
          outcomes[index] = await send(b.port, cases[index]!);
        }
      }),
    );
    const elapsed = Date.now() - started;
    const timeouts = outcomes.map((o, i) => (o.kind === 'timeout' ? i : -1)).filter((i) => i >= 0);
    expect(timeouts, `cases that hung (seed ${SEED}): ${timeouts.slice(0, 5).join(', ')}`).toEqual([]);
    const statuses = outcomes.flatMap((o) => (o.kind === 'answered' ? [o.status] : []));
    const unexpected = statuses.filter((s) => !ALLOWED_STATUSES.has(s));
    expect(unexpected).toEqual([]);
    // Most heads are malformed and must be refused explicitly, not silently dropped.
    expect(statuses.filter((s) => s === 400).length).toBeGreaterThan(FUZZ_CASES / 4);
    expect(elapsed).toBeLessThan(80_000);

    const after = await proxyRequest(b.port, `http://127.0.0.1:${origin.port}/hello`, b.auth);
    expect(after.status).toBe(200);
    expect(after.body.toString()).toBe('hello');
    await waitFor(() => b.broker.stats().tunnels === 0, 10_000);
  });
});
