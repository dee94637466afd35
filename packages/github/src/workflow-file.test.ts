import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PINNED_ACTIONS, WORKFLOW_PATH, workerAction, workerWorkflow } from './workflow-file.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

describe('shipped worker files', () => {
  it('the repository carries exactly what setup would write (run `npm run build` then regenerate if this fails)', () => {
    expect(fs.readFileSync(path.join(root, WORKFLOW_PATH), 'utf8')).toBe(workerWorkflow({ action: './' }));
    expect(fs.readFileSync(path.join(root, 'action.yml'), 'utf8')).toBe(workerAction());
  });

  it('never expands an expression inside a script, and pins every action by commit', () => {
    for (const text of [workerWorkflow({ action: 'acme/swarm@' + 'a'.repeat(40) }), workerAction()]) {
      const runBlocks = text.split('\n').filter((line, i, lines) => /^\s+run: /.test(line) || (i > 0 && /run: \|$/.test(lines[i - 1]!)));
      expect(runBlocks.length).toBeGreaterThan(0);
      for (const line of runBlocks) expect(line).not.toContain('${{');
      for (const uses of text.match(/uses: \S+/g) ?? []) {
        if (uses === 'uses: ./') continue;
        expect(uses).toMatch(/@[0-9a-f]{40}$/);
      }
    }
    expect(Object.values(PINNED_ACTIONS).every((a) => /@[0-9a-f]{40}$/.test(a))).toBe(true);
  });
});
