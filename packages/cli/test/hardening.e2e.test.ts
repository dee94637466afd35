import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validateDocument } from '@swarm/core';

const BIN = fileURLToPath(new URL('../bin/swarm.js', import.meta.url));

let tmp: string;
let env: NodeJS.ProcessEnv;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-e2e-hard-'));
  fs.mkdirSync(path.join(tmp, 'tmp'));
  env = { ...process.env, SWARM_HOME: path.join(tmp, 'home'), NO_COLOR: '1', TMPDIR: path.join(tmp, 'tmp') };
  delete env.SOURCE_DATE_EPOCH;
});
afterEach(() => {
  spawnSync('rm', ['-rf', tmp]);
});

function json(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args, '--json'], { cwd: tmp, env, encoding: 'utf8', timeout: 60_000 });
  const lines = r.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  const envelope = JSON.parse(lines[0]!);
  expect(validateDocument('output', envelope).errors).toEqual([]);
  return { code: r.status, envelope };
}

describe('config keys and profiles that are Object property names', () => {
  it.each(['__proto__', 'constructor'])('config set %s is CONFIG_KEY_UNKNOWN (exit 2)', (key) => {
    const r = json(['config', 'set', key, 'x']);
    expect(r.code).toBe(2);
    expect(r.envelope.error.code).toBe('CONFIG_KEY_UNKNOWN');
  });

  it('--profile __proto__ is an input error for show and set', () => {
    expect(json(['config', 'show', '--profile', '__proto__']).envelope.error.code).toBe('PROFILE_UNKNOWN');
    const set = json(['config', 'set', 'backend', 'local', '--profile', '__proto__']);
    expect(set.code).toBe(2);
    expect(set.envelope.error.code).toBe('PROFILE_NAME_INVALID');
    // Control: an ordinary profile works.
    expect(json(['config', 'set', 'backend', 'local', '--profile', 'ci']).code).toBe(0);
  });

  it('a config.json with a __proto__ profile is CONFIG_INVALID (exit 2), not a crash', () => {
    fs.mkdirSync(path.join(tmp, 'home'), { recursive: true });
    fs.writeFileSync(path.join(tmp, 'home', 'config.json'), '{"version":1,"default_profile":"default","profiles":{"__proto__":{"backend":"local"}}}');
    const r = json(['config', 'show']);
    expect(r.code).toBe(2);
    expect(r.envelope.error.code).toBe('CONFIG_INVALID');
  });
});

describe('gc', () => {
  it('removes socket directories of dead swarm processes and keeps live ones', () => {
    const dead = spawnSync('true').pid!;
    const stale = path.join(tmp, 'tmp', `swarm-egress-${dead}-Ab12Cd`);
    const live = path.join(tmp, 'tmp', `swarm-egress-${process.pid}-Ab12Cd`);
    fs.mkdirSync(stale);
    fs.mkdirSync(live);
    expect(json(['init']).code).toBe(0);
    const r = json(['gc']);
    expect(r.code).toBe(0);
    expect(r.envelope.data.removed_socket_dirs).toEqual([stale]);
    expect(fs.existsSync(stale)).toBe(false);
    expect(fs.existsSync(live)).toBe(true);
  });
});

describe('a step that nests directories past PATH_MAX', () => {
  it('commits with the too-deep part skipped and reported, exits 0, and leaves no plaintext workspace', () => {
    const step = "python3 -c \"import os\nfor i in range(450):\n    os.mkdir('d123456789'); os.chdir('d123456789')\nopen('deep.txt','w').write('deep')\"; echo top > top.txt";
    const r = json(['run', 'launch', '--unsandboxed-egress', '--node', 'root', '--run-id', 'deep', '--step', step]);
    expect(r.code).toBe(0);
    expect(r.envelope.data.status).toBe('succeeded');
    expect(r.envelope.data.skipped).toHaveLength(1);
    expect(r.envelope.data.skipped[0].reason).toBe('path-too-long');
    expect(fs.existsSync(path.join(tmp, '.swarm', 'runs', 'deep', 'workspace'))).toBe(false);
    // The node restores.
    const resumed = json(['run', 'resume', '--unsandboxed-egress', '--node', 'run:deep', '--run-id', 'next', '--step', 'cat top.txt']);
    expect(resumed.code).toBe(0);
  });
});

describe('files named on the command line are bounded', () => {
  it('refuses --policy-file /dev/zero and a FIFO at once (exit 2), and still reads a real policy file', () => {
    const fifo = path.join(tmp, 'policy.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    for (const file of ['/dev/zero', fifo]) {
      const r = json(['run', 'launch', '--node', 'root', '--step', 'true', '--policy-file', file]);
      expect(r.code).toBe(2);
      expect(r.envelope.error.code).toBe('FILE_NOT_REGULAR');
    }
    const policy = path.join(tmp, 'policy.json');
    fs.writeFileSync(policy, JSON.stringify({ egress: { allowlist: ['example.com'] } }));
    const ok = json(['run', 'launch', '--node', 'root', '--step', 'true', '--policy-file', policy]);
    expect(ok.code).toBe(0);
    expect(ok.envelope.data.egress).toBeTruthy();
  });
});

describe('config show', () => {
  it('never prints the password of the upstream proxy', () => {
    const set = json(['config', 'set', 'egress.upstream_proxy', 'http://ops:hunter2-secret@proxy.example:3128']);
    expect(set.code).toBe(0);
    expect(JSON.stringify(set.envelope)).not.toContain('hunter2-secret');
    const shown = json(['config', 'show']);
    expect(JSON.stringify(shown.envelope)).not.toContain('hunter2-secret');
    expect(shown.envelope.data.settings['egress.upstream_proxy']).toBe('http://ops:***@proxy.example:3128');
    expect(json(['config', 'set', 'egress.upstream_proxy', 'socks5://proxy.example:1080']).envelope.error.code).toBe('CONFIG_VALUE_INVALID');
  });
});
