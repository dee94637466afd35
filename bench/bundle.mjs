// Bundle benchmark: pack + seal throughput against `tar | openssl enc`, peak memory while sealing a
// 1 GiB workspace, and open + extract throughput. Run after `npm run build`:
//   node bench/bundle.mjs
import { execFileSync, spawnSync } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const bundleModule = pathToFileURL(path.join(here, '..', 'packages', 'state', 'dist', 'bundle', 'index.js')).href;
const MiB = 1024 * 1024;
const RUNS = 3;

/** Incompressible bytes from an AES-CTR keystream (fast, no entropy pool drain). */
function keystream(seed) {
  const cipher = createCipheriv('aes-128-ctr', seed.subarray(0, 16), seed.subarray(16, 32));
  const zeros = Buffer.alloc(MiB);
  return (length) => {
    const parts = [];
    for (let left = length; left > 0; left -= MiB) parts.push(cipher.update(left >= MiB ? zeros : zeros.subarray(0, left)));
    return Buffer.concat(parts);
  };
}

/**
 * A workspace of `scale` × 256 MiB in a mix of sizes: 32 MiB blobs, 1 MiB files, 64 KiB files and
 * 4 KiB files (96 + 96 + 48 + 16 MiB per unit of scale), spread over nested directories.
 */
function makeWorkspace(dir, scale) {
  const next = keystream(randomBytes(32));
  const groups = [
    { count: 3 * scale, size: 32 * MiB, dir: 'blobs' },
    { count: 96 * scale, size: MiB, dir: 'data' },
    { count: 768 * scale, size: 64 * 1024, dir: 'src' },
    { count: 4096 * scale, size: 4096, dir: 'small' },
  ];
  let total = 0;
  let files = 0;
  for (const group of groups) {
    for (let i = 0; i < group.count; i += 1) {
      const sub = path.join(dir, group.dir, `d${i % 32}`);
      fs.mkdirSync(sub, { recursive: true });
      fs.writeFileSync(path.join(sub, `f${i}.bin`), next(group.size));
      total += group.size;
      files += 1;
    }
  }
  return { bytes: total, files };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function seconds(start) {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const mibps = (bytes, secs) => bytes / MiB / secs;
const fmt = (n, digits = 2) => n.toFixed(digits);

function baselinePack(workspace, out) {
  execFileSync('sh', ['-c', `tar --sort=name --mtime=@0 -c . | openssl enc -aes-256-cbc -pbkdf2 -pass pass:x -out "${out}"`], {
    cwd: workspace,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

function baselineExtract(sealed, dest) {
  fs.mkdirSync(dest, { recursive: true });
  execFileSync('sh', ['-c', `openssl enc -d -aes-256-cbc -pbkdf2 -pass pass:x -in "${sealed}" | tar -x -C "${dest}"`], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** Peak RSS of a fresh Node process that packs and seals `workspace` (and of one that only loads the module). */
function childPeakRss(workspace, stateDb, out) {
  const script = `
    const { createSealedBundle } = await import(${JSON.stringify(bundleModule)});
    const [workspace, stateDb, out] = process.argv.slice(1);
    if (workspace) {
      const { randomBytes } = await import('node:crypto');
      await createSealedBundle({ workspaceDir: workspace, stateDbPath: stateDb, mtimeSec: 0, dataKey: randomBytes(32), outFile: out });
    }
    // VmHWM is this process's own peak; getrusage's maxRSS can carry the parent's over fork+exec.
    const { readFileSync } = await import('node:fs');
    let peakKiB = process.resourceUsage().maxRSS;
    try {
      peakKiB = Number(/VmHWM:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
    } catch {}
    process.stdout.write(JSON.stringify({ maxRssKiB: peakKiB }));
  `;
  const run = (args) => {
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script, ...args], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`child failed: ${result.stderr}`);
    return JSON.parse(result.stdout).maxRssKiB * 1024;
  };
  return { idle: run([]), sealing: run([workspace, stateDb, out]) };
}

export async function main() {
  const { createSealedBundle, openSealedBundle } = await import(bundleModule);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-bench-bundle-'));
  try {
    const ws = path.join(tmp, 'ws256');
    const tree = makeWorkspace(ws, 1);
    const stateDb = path.join(tmp, 'state.db');
    fs.writeFileSync(stateDb, keystream(randomBytes(32))(MiB));
    const dataKey = randomBytes(32);
    const ours = path.join(tmp, 'ours.sealed');
    const theirs = path.join(tmp, 'theirs.enc');

    // Warm the page cache and both code paths once, untimed.
    await createSealedBundle({ workspaceDir: ws, stateDbPath: stateDb, mtimeSec: 0, dataKey, outFile: ours });
    baselinePack(ws, theirs);

    const packTimes = [];
    const baseTimes = [];
    let sealed;
    for (let i = 0; i < RUNS; i += 1) {
      fs.rmSync(ours, { force: true });
      let start = process.hrtime.bigint();
      sealed = await createSealedBundle({ workspaceDir: ws, stateDbPath: stateDb, mtimeSec: 0, dataKey, outFile: ours });
      packTimes.push(seconds(start));
      fs.rmSync(theirs, { force: true });
      start = process.hrtime.bigint();
      baselinePack(ws, theirs);
      baseTimes.push(seconds(start));
    }
    const pack = { swarm: median(packTimes), baseline: median(baseTimes) };

    const openTimes = [];
    const baseOpenTimes = [];
    for (let i = 0; i < RUNS; i += 1) {
      const dest = path.join(tmp, `open-${i}`);
      let start = process.hrtime.bigint();
      await openSealedBundle({ file: ours, dataKey, expectedSha256: sealed.bundleSha256, destDir: dest });
      openTimes.push(seconds(start));
      fs.rmSync(dest, { recursive: true, force: true });
      const baseDest = path.join(tmp, `base-open-${i}`);
      start = process.hrtime.bigint();
      baselineExtract(theirs, baseDest);
      baseOpenTimes.push(seconds(start));
      fs.rmSync(baseDest, { recursive: true, force: true });
    }
    const open = { swarm: median(openTimes), baseline: median(baseOpenTimes) };
    fs.rmSync(ours, { force: true });
    fs.rmSync(theirs, { force: true });

    const big = path.join(tmp, 'ws1g');
    const bigTree = makeWorkspace(big, 4);
    const rss = childPeakRss(big, stateDb, path.join(tmp, 'big.sealed'));

    const bytes = tree.bytes + MiB;
    const results = {
      workspace: { bytes: tree.bytes, files: tree.files },
      packSeal: {
        swarmSeconds: pack.swarm,
        baselineSeconds: pack.baseline,
        swarmMiBps: mibps(bytes, pack.swarm),
        baselineMiBps: mibps(bytes, pack.baseline),
        ratio: pack.baseline / pack.swarm,
        runs: { swarm: packTimes, baseline: baseTimes },
      },
      openExtract: {
        swarmSeconds: open.swarm,
        baselineSeconds: open.baseline,
        swarmMiBps: mibps(bytes, open.swarm),
        baselineMiBps: mibps(bytes, open.baseline),
        ratio: open.baseline / open.swarm,
      },
      peakRss1GiB: { workspaceBytes: bigTree.bytes, sealingBytes: rss.sealing, idleBytes: rss.idle },
    };

    console.log(`bundle: workspace ${fmt(tree.bytes / MiB, 0)} MiB in ${tree.files} files, medians of ${RUNS}`);
    console.log(
      `  pack+seal      swarm ${fmt(pack.swarm)} s (${fmt(results.packSeal.swarmMiBps, 0)} MiB/s)` +
        `   tar|openssl ${fmt(pack.baseline)} s (${fmt(results.packSeal.baselineMiBps, 0)} MiB/s)` +
        `   ratio ${fmt(results.packSeal.ratio)}x (target >= 1.00)`,
    );
    console.log(
      `  open+extract   swarm ${fmt(open.swarm)} s (${fmt(results.openExtract.swarmMiBps, 0)} MiB/s)` +
        `   openssl|tar ${fmt(open.baseline)} s (${fmt(results.openExtract.baselineMiBps, 0)} MiB/s)` +
        `   ratio ${fmt(results.openExtract.ratio)}x`,
    );
    console.log(
      `  peak RSS pack+seal of ${fmt(bigTree.bytes / MiB / 1024, 0)} GiB: ${fmt(rss.sealing / MiB, 0)} MiB` +
        ` (node with the module loaded: ${fmt(rss.idle / MiB, 0)} MiB; target < 256 MiB)`,
    );
    return results;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await main();
}
