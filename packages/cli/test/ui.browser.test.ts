/**
 * `swarm ui` in a real headless Chromium (Debian's `chromium`, driven by puppeteer-core): the DAG,
 * a live run turning green without a reload, a node's certificate checks and step log, and no data
 * without the token. Screenshots go to artifacts/ui/ (kept by CI).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/swarm.js', import.meta.url));
const ARTIFACTS = fileURLToPath(new URL('../../../artifacts/ui/', import.meta.url));
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', process.env.SWARM_CHROMIUM ?? ''].find((p) => p && fs.existsSync(p));

let tmp: string;
let env: NodeJS.ProcessEnv;
let ui: ChildProcess;
let url: string;
let port: number;
let browser: Browser;

function swarm(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: tmp, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function must(args: string[]): Promise<void> {
  const r = await swarm(args);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
}

async function shot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

beforeAll(async () => {
  if (!CHROMIUM) throw new Error('chromium not found: install Debian chromium (apt-get install chromium), as .ci/run does');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-ui-'));
  env = { ...process.env, SWARM_HOME: path.join(tmp, 'home'), NO_COLOR: '1' };
  delete env.SOURCE_DATE_EPOCH;
  await must(['init', '--quiet']);
  // A chain with a fork: root → a → b, and a branch from a with its own step.
  await must(['run', 'launch', '--run-id', 'a', '--step', 'echo first > f.txt']);
  await must(['run', 'resume', '--node', 'run:a', '--run-id', 'b', '--step', 'echo "hello from b"; echo second >> f.txt']);
  await must(['run', 'fork', '--node', 'run:a', '--label', 'side']);
  await must(['run', 'resume', '--node', 'branch:side', '--run-id', 'c', '--step', 'echo side > g.txt']);
  ui = spawn(process.execPath, [BIN, 'ui', '--json'], { cwd: tmp, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const envelope = await new Promise<{ data: { url: string; port: number } }>((resolve, reject) => {
    let out = '';
    ui.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!));
    });
    ui.on('exit', (code) => reject(new Error(`swarm ui exited with ${code}`)));
  });
  url = envelope.data.url;
  port = envelope.data.port;
  browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  ui?.kill('SIGTERM');
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('swarm ui in Chromium', () => {
  it('the DAG page shows every node of a chain with a fork, the branch labelled', async () => {
    const page = await browser.newPage();
    await page.goto(url);
    await page.waitForSelector('svg#dag [data-node="node-c"]');
    const nodes = await page.$$eval('svg#dag [data-node]', (els) => els.map((e) => [e.getAttribute('data-node'), e.getAttribute('data-status')]));
    expect(Object.fromEntries(nodes)).toMatchObject({ root: 'root', 'node-a': 'succeeded', 'node-b': 'succeeded', 'node-c': 'succeeded' });
    // The fork's node carries its label.
    const texts = await page.$$eval('svg#dag text', (els) => els.map((e) => e.textContent));
    expect(texts.some((t) => t?.includes('[side]')), JSON.stringify(texts)).toBe(true);
    // Edges follow the DAG: one per node with a parent.
    const edges = await page.$$eval('svg#dag path.edge', (els) => els.length);
    expect(edges).toBe(nodes.length - 1);
    await shot(page, 'dag');
    await page.close();
  });

  it('a live run appears and turns green without a reload', async () => {
    const page = await browser.newPage();
    await page.goto(url);
    await page.waitForSelector('svg#dag [data-node="node-b"]');
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    const release = path.join(tmp, '.swarm', 'runs', 'live', 'workspace', 'release');
    await must(['run', 'resume', '--node', 'run:b', '--run-id', 'live', '--detach', '--step', 'i=0; while [ ! -e release ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; echo done']);
    await page.waitForSelector('svg#dag [data-node="run:live"][data-status="running"]', { timeout: 30_000 });
    await shot(page, 'dag-live-running');
    fs.writeFileSync(release, '');
    await page.waitForSelector('svg#dag [data-node="node-live"][data-status="succeeded"]', { timeout: 30_000 });
    expect(await page.$('svg#dag [data-node="run:live"]')).toBeNull();
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 'the page was not reloaded').toBe(42);
    await shot(page, 'dag-live-succeeded');
    await page.close();
  }, 90_000);

  it('a node page shows the certificate checks and the step log', async () => {
    const page = await browser.newPage();
    await page.goto(`${url}#/node/node-b`);
    await page.waitForSelector('#checks table');
    expect(await page.$eval('#checks', (e) => e.textContent)).toContain('certificate verified');
    const checks = await page.$$eval('#checks tbody tr', (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)));
    expect(checks.length).toBeGreaterThan(3);
    expect(checks.every((c) => c[1] === 'pass' || c[1] === 'skipped'), JSON.stringify(checks)).toBe(true);
    expect(checks.some((c) => c[1] === 'pass')).toBe(true);
    expect(await page.$eval('#step-log', (e) => e.textContent)).toContain('hello from b');
    expect(await page.$eval('main', (e) => e.textContent)).toContain('f.txt');
    await shot(page, 'node-b');
    await page.close();
  });

  it('a request without the token gets nothing; with a foreign Host nothing either', async () => {
    const bare = `http://127.0.0.1:${port}`;
    for (const p of ['/', '/api/graph', '/api/runs', '/api/node/node-b', '/api/log/b', '/api/events']) {
      const r = await fetch(`${bare}${p}`);
      expect(r.status, p).toBe(401);
      expect(await r.text(), p).toBe('');
    }
    const wrong = await fetch(`${bare}/api/graph?token=${'0'.repeat(64)}`);
    expect(wrong.status).toBe(401);
    // The token in the URL does not let a POST through: state changes need it in the header.
    const token = new URL(url).searchParams.get('token')!;
    expect((await fetch(`${bare}/api/runs/b/stop?token=${token}`, { method: 'POST' })).status).toBe(401);
    expect((await fetch(`${bare}/?token=${token}`)).status, 'the page itself takes the token from its URL').toBe(200);
    // Nor does it let an API read through: only the page and its event stream take it from the URL.
    expect((await fetch(`${bare}/api/graph?token=${token}`)).status).toBe(401);
    // A run id that would name a path outside the store is refused before it names anything.
    const traversal = await fetch(`${bare}/api/log/..%2F..%2Fetc`, { headers: { 'X-Swarm-Token': token } });
    expect(traversal.status).toBe(400);
    expect((await fetch(`${bare}/api/runs/..%2Fx/kill`, { method: 'POST', headers: { 'X-Swarm-Token': token } })).status).toBe(400);
    // Positive control: the same requests with the token answer.
    expect((await fetch(`${bare}/api/graph`, { headers: { 'X-Swarm-Token': token } })).status).toBe(200);
    // DNS rebinding: a page of another name that resolves here gets nothing, token or not.
    const rebound = await new Promise<number>((resolve, reject) => {
      const req = require('node:http').request({ host: '127.0.0.1', port, path: '/api/graph', headers: { Host: `attacker.example:${port}`, 'X-Swarm-Token': token } }, (res: { statusCode: number; resume(): void }) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on('error', reject);
      req.end();
    });
    expect(rebound).toBe(403);
    // In the browser: the page without its token is empty.
    const page = await browser.newPage();
    const response = await page.goto(bare);
    expect(response!.status()).toBe(401);
    expect(await page.$('svg#dag')).toBeNull();
    await page.close();
  });
});
