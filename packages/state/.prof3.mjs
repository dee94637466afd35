import fs from 'node:fs'; import { randomBytes } from 'node:crypto';
import { createSealedBundle } from './dist/bundle/index.js';
const t = () => process.hrtime.bigint(); const s = (a) => (Number(t() - a) / 1e9).toFixed(3);
const origFsync = fs.fsync; let fsyncTime = 0n;
fs.fsync = (fd, cb) => { const a = t(); origFsync(fd, (e) => { fsyncTime += t() - a; cb(e); }); };
for (let i = 0; i < 4; i++) {
  fsyncTime = 0n;
  const a = t();
  await createSealedBundle({ workspaceDir: '/tmp/expA/ws', stateDbPath: '/tmp/expA/state.db', mtimeSec: 0, dataKey: randomBytes(32), outFile: '/tmp/expA/out.sealed' });
  console.log('total', s(a), 'fsync', (Number(fsyncTime) / 1e9).toFixed(3));
  fs.rmSync('/tmp/expA/out.sealed');
}
