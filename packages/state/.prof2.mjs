import fs from 'node:fs'; import { createHash, randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises'; import { Writable } from 'node:stream';
import tar from 'tar-stream';
import { walkWorkspace } from './dist/bundle/index.js';
const t = () => process.hrtime.bigint(); const s = (a) => (Number(t() - a) / 1e9).toFixed(3);
const { entries } = walkWorkspace('/tmp/expA/ws');
const files = entries.filter((e) => e.type === 'file');
const small = files.filter((e) => e.size <= 65536), big = files.filter((e) => e.size > 65536);
async function run(list, mode) {
  const pack = tar.pack();
  const done = pipeline(pack, new Writable({ highWaterMark: 4 << 20, writev(chunks, cb) { cb(); } }));
  for (const e of list) {
    const fd = fs.openSync(e.abs, 'r');
    if (mode === 'buffer' && e.size <= 1 << 20) {
      const b = Buffer.allocUnsafe(e.size); fs.readSync(fd, b, 0, e.size, 0); fs.closeSync(fd);
      const p = new Promise((r) => pack.entry({ name: e.path, size: e.size, type: 'file', mode: 0o100644 }, b, r));
      continue;
    }
    await new Promise(async (resolve) => {
      const sink = pack.entry({ name: e.path, size: e.size, type: 'file', mode: 0o100644 }, resolve);
      let off = 0;
      while (off < e.size) { const b = Buffer.allocUnsafe(Math.min(1 << 20, e.size - off)); off += fs.readSync(fd, b, 0, b.length, off); if (!sink.write(b)) await new Promise((r) => sink.once('drain', r)); }
      fs.closeSync(fd); sink.end();
    });
  }
  pack.finalize(); await done;
}
for (let i = 0; i < 2; i++) {
  let a = t(); await run(small, 'stream'); console.log('small', small.length, 'stream', s(a));
  a = t(); await run(small, 'buffer'); console.log('small', small.length, 'buffer', s(a));
  a = t(); await run(big, 'stream'); console.log('big', big.length, 'stream', s(a));
}
