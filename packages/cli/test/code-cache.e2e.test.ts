/**
 * The CLI's code cache (bin/code-cache.js): bytecode of the last run of a command, kept per user,
 * read only when it is this user's own and named by the bundle's digest.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import vm from 'node:vm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/swarm.js', import.meta.url));
const LOADER = pathToFileURL(fileURLToPath(new URL('../bin/code-cache.js', import.meta.url))).href;

let tmp: string;
let cacheDir: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-code-cache-'));
  cacheDir = path.join(tmp, 'cache');
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: tmp, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const swarmEnv = () => ({ ...process.env, SWARM_HOME: path.join(tmp, 'home'), SWARM_CODE_CACHE: cacheDir, NO_COLOR: '1' });

/** Loads `bundle` in a fresh process as bin/swarm.js does; prints whether V8 took the cache and what main returned. */
async function load(bundle: string): Promise<{ cached: boolean; value: unknown; files: string[] }> {
  const script = `
    const { loadBundle } = await import(${JSON.stringify(LOADER)});
    const b = loadBundle(${JSON.stringify(bundle)}, ['probe']);
    const value = b.exports.main();
    b.save('probe');
    process.stdout.write(JSON.stringify({ cached: b.cached, value }));`;
  const r = await run(['--input-type=module', '-e', script], { ...process.env, SWARM_CODE_CACHE: cacheDir });
  expect(r.code, r.stderr).toBe(0);
  const files = fs.existsSync(cacheDir) ? fs.readdirSync(cacheDir).sort() : [];
  return { ...JSON.parse(r.stdout), files };
}

/** A bundle whose main returns `word`; same length for every four-letter word. */
function writeBundle(file: string, word: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `exports.main = function () { return ${JSON.stringify(word)} + ' ' + [1, 2, 3].map((x) => x * 2).join(','); };\n`);
}

describe('code cache', () => {
  it('the CLI writes one cache per command, 0600 in a 0700 directory, and runs from it the next time', async () => {
    const env = swarmEnv();
    expect((await run([BIN, '--version'], env)).code).toBe(0);
    expect((await run([BIN, 'init', '--quiet'], env)).code).toBe(0);
    expect((await run([BIN, 'run', 'list', '--json'], env)).code).toBe(0);
    const files = fs.readdirSync(cacheDir).sort();
    expect(files.map((f) => f.replace(/^.*-(x64|arm64)-/, ''))).toEqual(['init.v8', 'run-list.v8', 'top.v8']);
    expect(fs.statSync(cacheDir).mode & 0o777).toBe(0o700);
    for (const f of files) expect(fs.statSync(path.join(cacheDir, f)).mode & 0o777).toBe(0o600);
    // A second run takes the bytecode and does not write it again.
    const top = path.join(cacheDir, files[2]!);
    const before = fs.statSync(top).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    const again = await run([BIN, '--version'], env);
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(fs.statSync(top).mtimeMs).toBe(before);
    // A failing command line (bad input, exit 2) leaves no cache behind.
    expect((await run([BIN, 'run', 'resume', '--no-such-flag'], env)).code).toBe(2);
    expect(fs.readdirSync(cacheDir).sort()).toEqual(files);
  });

  it('keys a line by the command it runs, not by its arguments', () => {
    const { codeCacheKey } = createRequire(import.meta.url)('../dist/bundle/swarm.cjs') as { codeCacheKey: (argv: string[]) => string };
    expect(codeCacheKey(['run', 'resume', '--node', 'run:a', '--step', 'true'])).toBe('run-resume');
    expect(codeCacheKey(['gc', '--stats'])).toBe('gc');
    expect(codeCacheKey(['graph', 'extra', 'words'])).toBe('graph');
    expect(codeCacheKey(['--version'])).toBe('top');
    expect(codeCacheKey(['no-such-command'])).toBe('top');
    expect(codeCacheKey([])).toBe('top');
  });

  it('SWARM_CODE_CACHE=off writes nothing', async () => {
    const env = { ...swarmEnv(), SWARM_CODE_CACHE: 'off', XDG_CACHE_HOME: path.join(tmp, 'xdg') };
    expect((await run([BIN, '--version'], env)).code).toBe(0);
    expect(fs.existsSync(path.join(tmp, 'xdg'))).toBe(false);
    expect(fs.existsSync(cacheDir)).toBe(false);
  });

  it('a cache is used on the second load', async () => {
    const bundle = path.join(tmp, 'b', 'bundle.cjs');
    writeBundle(bundle, 'aaaa');
    const first = await load(bundle);
    expect(first).toMatchObject({ cached: false, value: 'aaaa 2,4,6' });
    expect(first.files).toHaveLength(1);
    expect(await load(bundle)).toMatchObject({ cached: true, value: 'aaaa 2,4,6' });
  });

  it('bytecode of another bundle of the same length is never run (V8 alone would run it)', async () => {
    const bundle = path.join(tmp, 'b', 'bundle.cjs');
    writeBundle(bundle, 'aaaa');
    await load(bundle);
    const [stale] = fs.readdirSync(cacheDir);
    // Weakened: V8 checks only the source's length, so it takes the old bytecode for the new
    // source and runs the old code.
    const wrap = (src: string) => `(function (exports, require, module, __filename, __dirname) {${src}\n})`;
    writeBundle(bundle, 'bbbb');
    // The file is a tag, the bytecode's SHA-256, then the bytecode V8 made.
    const bytecode = fs.readFileSync(path.join(cacheDir, stale!)).subarray('swarm-v8-cache-1\n'.length + 32);
    const script = new vm.Script(wrap(fs.readFileSync(bundle, 'utf8')), { filename: bundle, cachedData: bytecode });
    expect(script.cachedDataRejected).toBe(false);
    const exports: { main?: () => string } = {};
    script.runInThisContext()(exports, undefined, { exports }, bundle, path.dirname(bundle));
    expect(exports.main!()).toBe('aaaa 2,4,6');
    // The loader names caches by the bundle's digest: the new bundle compiles from source.
    expect(await load(bundle)).toMatchObject({ cached: false, value: 'bbbb 2,4,6' });
    // So does a bundle whose build record (the digest beside it) was not updated: its mtime differs.
    fs.writeFileSync(`${bundle}.sha256`, `${'0'.repeat(64)}\n`);
    await load(bundle);
    writeBundle(bundle, 'cccc');
    fs.utimesSync(bundle, new Date(), new Date(Date.now() + 5000));
    expect(await load(bundle)).toMatchObject({ cached: false, value: 'cccc 2,4,6' });
  });

  it('a cache someone else can write is not read; a corrupt one (garbage, or one byte flipped in its body) is never handed to V8, and is replaced', async () => {
    const bundle = path.join(tmp, 'b', 'bundle.cjs');
    writeBundle(bundle, 'aaaa');
    await load(bundle);
    const [file] = fs.readdirSync(cacheDir);
    const cache = path.join(cacheDir, file!);
    fs.chmodSync(cache, 0o666);
    expect(await load(bundle)).toMatchObject({ cached: false, value: 'aaaa 2,4,6' });
    fs.chmodSync(cache, 0o600);
    fs.chmodSync(cacheDir, 0o777);
    expect(await load(bundle)).toMatchObject({ cached: false, value: 'aaaa 2,4,6' });
    fs.chmodSync(cacheDir, 0o700);
    expect(await load(bundle)).toMatchObject({ cached: true });
    // Garbage: V8 rejects it, the load compiles from source and writes a good cache.
    fs.writeFileSync(cache, Buffer.alloc(4096, 7), { mode: 0o600 });
    expect(await load(bundle)).toMatchObject({ cached: false, value: 'aaaa 2,4,6' });
    expect(await load(bundle)).toMatchObject({ cached: true, value: 'aaaa 2,4,6' });
    // One flipped byte in the body (which V8 itself does not check, and which can crash it): the
    // digest no longer holds, so V8 never sees it; the load compiles and writes a good cache.
    const good = fs.readFileSync(cache);
    // Weakened: V8 handed the flipped bytecode directly takes it (or dies of it).
    const middle = Math.floor(good.length / 2);
    const raw = Buffer.from(good.subarray('swarm-v8-cache-1\n'.length + 32));
    raw[middle - 'swarm-v8-cache-1\n'.length - 32] ^= 0x40;
    const rawFile = path.join(tmp, 'raw.bin');
    fs.writeFileSync(rawFile, raw);
    const probe = `const vm = require('node:vm'); const fs = require('node:fs');
      const src = fs.readFileSync(${JSON.stringify(bundle)}, 'utf8');
      const s = new vm.Script('(function (exports, require, module, __filename, __dirname) {' + src + '\\n})', { filename: ${JSON.stringify(bundle)}, cachedData: fs.readFileSync(${JSON.stringify(rawFile)}) });
      process.stdout.write(String(s.cachedDataRejected));`;
    const weak = await run(['-e', probe], { ...process.env });
    expect(weak.code !== 0 || weak.stdout === 'false', `V8 ${weak.code === 0 ? `said rejected=${weak.stdout}` : 'crashed'}`).toBe(true);
    for (const at of [good.length - 1, middle]) {
      const flipped = Buffer.from(good);
      flipped[at] ^= 0x40;
      fs.writeFileSync(cache, flipped, { mode: 0o600 });
      expect(await load(bundle)).toMatchObject({ cached: false, value: 'aaaa 2,4,6' });
      expect(await load(bundle)).toMatchObject({ cached: true, value: 'aaaa 2,4,6' });
    }
    // A link in place of the file is not followed.
    const elsewhere = path.join(tmp, 'elsewhere.v8');
    fs.renameSync(cache, elsewhere);
    fs.symlinkSync(elsewhere, cache);
    expect(await load(bundle)).toMatchObject({ cached: false });
  });
});
