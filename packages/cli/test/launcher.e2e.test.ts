/**
 * The `swarm` command's shell line (bin/swarm.js, started by its path): Node starts without NODE_EXTRA_CA_CERTS, which
 * it would parse at every start, and swarm puts the variable back for what it starts. swarm's own
 * HTTPS trusting the file is held in packages/github/src/http.test.ts and, end to end, in the
 * OIDC collect of test/github/oidc.e2e.test.ts.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/swarm.js', import.meta.url));

let tmp: string;
let env: NodeJS.ProcessEnv;
/** A CA file that is not there: Node warns at start when it is told to read it. */
let missing: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-launcher-'));
  missing = path.join(tmp, 'no-such-ca-bundle.pem');
  env = { ...process.env, SWARM_HOME: path.join(tmp, 'home'), SWARM_CODE_CACHE: 'off', NO_COLOR: '1', NODE_EXTRA_CA_CERTS: missing };
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function run(file: string, args: string[], e: NodeJS.ProcessEnv = env): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: tmp, env: e, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('the swarm command starts Node without NODE_EXTRA_CA_CERTS', () => {
  it('run as `node bin/swarm.js`, Node reads the file at start (it warns that it is missing); run as the command, it does not', async () => {
    const viaNode = await run(process.execPath, [BIN, '--version']);
    expect(viaNode.code).toBe(0);
    expect(viaNode.stderr).toContain(`Ignoring extra certs from \`${missing}\``);
    const asCommand = await run(BIN, ['--version']);
    expect(asCommand.code, asCommand.stderr).toBe(0);
    expect(asCommand.stdout).toBe(viaNode.stdout);
    expect(asCommand.stderr).toBe('');
  });


  /** `swarm doctor` with a gh that writes down the environment it was started with. */
  async function ghEnvironment(file: string, args: string[], e: NodeJS.ProcessEnv): Promise<Record<string, string>> {
    const gh = path.join(tmp, 'fake-gh');
    const out = path.join(tmp, 'gh-env.json');
    fs.rmSync(out, { force: true });
    fs.writeFileSync(gh, `#!/bin/sh\n${JSON.stringify(process.execPath)} -e 'require("fs").writeFileSync(${JSON.stringify(out)}, JSON.stringify(process.env))'\necho 'gh version 0.0.0'\n`, { mode: 0o755 });
    const r = await run(file, [...args, 'doctor', '--json'], { ...e, SWARM_GH_BIN: gh });
    expect(fs.existsSync(out), r.stderr + r.stdout).toBe(true);
    return JSON.parse(fs.readFileSync(out, 'utf8'));
  }

  it('the processes swarm starts get the variable as it was, and not the name it travelled under', async () => {
    const seen = await ghEnvironment(BIN, [], env);
    expect(seen.NODE_EXTRA_CA_CERTS).toBe(missing);
    expect(Object.keys(seen).filter((k) => k.startsWith('SWARM_DEFERRED'))).toEqual([]);
    // A step sees only what it is passed; --pass-env reads swarm's own environment.
    expect((await run(BIN, ['init', '--quiet'])).code).toBe(0);
    const ws = path.join(tmp, 'ws');
    fs.mkdirSync(ws);
    const passed = await run(BIN, ['run', 'launch', '--workspace', ws, '--run-id', 'ca', '--step', `test "$NODE_EXTRA_CA_CERTS" = '${missing}'`, '--pass-env', 'NODE_EXTRA_CA_CERTS', '--json']);
    expect(passed.code, passed.stderr + passed.stdout).toBe(0);
    // The control: a step that checks for another value fails (exit 7), so the check above can fail.
    const other = await run(BIN, ['run', 'resume', '--node', 'run:ca', '--run-id', 'ca2', '--step', `test "$NODE_EXTRA_CA_CERTS" = '${missing}x'`, '--pass-env', 'NODE_EXTRA_CA_CERTS', '--json']);
    expect(other.code).toBe(7);
  });

  it('without the variable, the command runs and sets none, not even an empty one, for what it starts', async () => {
    const bare = { ...env };
    delete bare.NODE_EXTRA_CA_CERTS;
    const r = await run(BIN, ['--version'], bare);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const seen = await ghEnvironment(BIN, [], bare);
    expect(Object.keys(seen).filter((k) => k === 'NODE_EXTRA_CA_CERTS' || k.startsWith('SWARM_DEFERRED'))).toEqual([]);
  });

  it('a SWARM_DEFERRED_CA_CERTS left in the environment of `node bin/swarm.js` is dropped, and NODE_EXTRA_CA_CERTS kept as it was', async () => {
    const seen = await ghEnvironment(process.execPath, [BIN], { ...env, SWARM_DEFERRED_CA_CERTS: path.join(tmp, 'planted.pem') });
    expect(seen.NODE_EXTRA_CA_CERTS).toBe(missing);
    expect(Object.keys(seen).filter((k) => k.startsWith('SWARM_DEFERRED'))).toEqual([]);
  });
});
