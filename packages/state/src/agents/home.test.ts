/** docs/agents.md lists what is never sealed; it must list exactly what the code leaves out. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HOME_EXCLUSIONS } from './index.js';
import { homeExclusion } from './home.js';

const DOC = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', '..', '..', 'docs', 'agents.md');

describe('the home paths never sealed', () => {
  it('are each named in docs/agents.md', () => {
    const section = fs.readFileSync(DOC, 'utf8').split('## What is never sealed')[1]!.split('\n## ')[0]!;
    const documented = [...section.matchAll(/`(\.[^`\s]+)`/g)].map((m) => m[1]);
    expect([...documented].sort()).toEqual([...HOME_EXCLUSIONS].sort());
  });

  it('match a file, a whole directory and what lies below it, and nothing that only shares a prefix', () => {
    const excluded = homeExclusion(['.codex/auth.json', '.ssh/']);
    expect(excluded('.codex/auth.json', 'file')).toBe(true);
    expect(excluded('.ssh', 'dir')).toBe(true);
    expect(excluded('.ssh/id_ed25519', 'file')).toBe(true);
    expect(excluded('.sshrc', 'file')).toBe(false);
    expect(excluded('.codex/auth.json.bak', 'file')).toBe(false);
    expect(excluded('.codex', 'dir')).toBe(false);
  });
});
