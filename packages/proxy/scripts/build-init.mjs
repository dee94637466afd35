// Compiles the step sandbox's first process (src/sandbox/init.c) to dist/sandbox/swarm-init.
// Without a C compiler swarm still builds; runs then refuse with a hint to install one.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = path.join(pkg, 'src/sandbox/init.c');
const out = path.join(pkg, 'dist/sandbox/swarm-init');
fs.mkdirSync(path.dirname(out), { recursive: true });
const fresh = fs.existsSync(out) && fs.statSync(out).mtimeMs >= fs.statSync(source).mtimeMs;
if (!fresh) {
  const compilers = [process.env.CC, 'cc', 'gcc', 'clang'].filter(Boolean);
  const flags = ['-O2', '-Wall', '-Wextra', '-Werror', '-std=c11', '-o', `${out}.tmp`, source];
  let built = false;
  for (const cc of compilers) {
    const result = spawnSync(cc, flags, { stdio: ['ignore', 'inherit', 'inherit'] });
    if (result.error?.code === 'ENOENT') continue;
    if (result.status === 0) {
      fs.renameSync(`${out}.tmp`, out);
      built = true;
    }
    break;
  }
  if (!built) {
    fs.rmSync(`${out}.tmp`, { force: true });
    process.stderr.write('swarm build: could not compile the sandbox init (no working C compiler); runs will refuse until one is installed (apt-get install gcc) and `npm run build` is run again\n');
  }
}
