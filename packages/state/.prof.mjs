import fs from 'node:fs'; import path from 'node:path'; import { createHash, randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises'; import { Writable } from 'node:stream';
import tar from 'tar-stream';
import { walkWorkspace, createSealedBundle } from './dist/bundle/index.js';
import { createSealStream } from './dist/crypto/index.js';
const ws = '/tmp/expA/ws';
const t = () => process.hrtime.bigint(); const s = (a) => (Number(t() - a) / 1e9).toFixed(3);
for (let round = 0; round < 2; round++) {
let a = t(); const { entries } = walkWorkspace(ws); console.log('walk', s(a));
a = t(); let n = 0; for (const e of entries) if (e.type === 'file') { const fd = fs.openSync(e.abs, 'r'); let off = 0; while (off < e.size) { const b = Buffer.allocUnsafe(Math.min(1 << 20, e.size - off)); off += fs.readSync(fd, b, 0, b.length, off); n++; } fs.closeSync(fd); } console.log('read', s(a));
a = t(); for (const e of entries) if (e.type === 'file') { const h = createHash('sha256'); const fd = fs.openSync(e.abs, 'r'); let off = 0; while (off < e.size) { const b = Buffer.allocUnsafe(Math.min(1 << 20, e.size - off)); off += fs.readSync(fd, b, 0, b.length, off); h.update(b); } fs.closeSync(fd); h.digest(); } console.log('read+hash', s(a));
// tar only to null
async function run(seal) {
  const pack = tar.pack(); const sinkHash = createHash('sha256');
  const streams = [pack]; if (seal) streams.push(createSealStream(randomBytes(32)));
  streams.push(new Writable({ highWaterMark: 4 << 20, writev(chunks, cb) { for (const c of chunks) sinkHash.update(c.chunk); cb(); } }));
  const done = pipeline(...streams);
  for (const e of entries) {
    if (e.type !== 'file') { await new Promise((r) => pack.entry({ name: e.path + '/', type: 'directory', mode: 0o40755 }, r)); continue; }
    await new Promise(async (resolve) => {
      const sink = pack.entry({ name: e.path, size: e.size, type: 'file', mode: 0o100644 }, resolve);
      const fd = fs.openSync(e.abs, 'r'); const h = createHash('sha256'); let off = 0;
      while (off < e.size) { const b = Buffer.allocUnsafe(Math.min(1 << 20, e.size - off)); off += fs.readSync(fd, b, 0, b.length, off); h.update(b); if (!sink.write(b)) await new Promise((r) => sink.once('drain', r)); }
      fs.closeSync(fd); sink.end();
    });
  }
  pack.finalize(); await done;
}
a = t(); await run(false); console.log('read+hash+tar+hash', s(a));
a = t(); await run(true); console.log('read+hash+tar+seal+hash', s(a));
a = t(); await createSealedBundle({ workspaceDir: ws, stateDbPath: '/tmp/expA/state.db', mtimeSec: 0, dataKey: randomBytes(32), outFile: '/tmp/expA/out.sealed' }); console.log('full createSealedBundle', s(a)); fs.rmSync('/tmp/expA/out.sealed');
}
