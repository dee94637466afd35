import { describe, expect, it } from 'vitest';
import { checkRequestId, parseWorkflowRef } from './workflow-ref.js';

const pin = '0123456789abcdef0123456789abcdef01234567';

describe('workflow refs', () => {
  it('parses a pinned ref', () => {
    const ref = parseWorkflowRef(`acme/agents/.github/workflows/swarm-run.yml@${pin}`);
    expect(ref).toMatchObject({ fullName: 'acme/agents', file: 'swarm-run.yml', path: '.github/workflows/swarm-run.yml', pin });
  });
  it.each([
    ['acme/agents/.github/workflows/swarm-run.yml@main', 'WORKFLOW_REF_UNPINNED'],
    ['acme/agents/.github/workflows/swarm-run.yml@v1.2', 'WORKFLOW_REF_UNPINNED'],
    ['acme/agents/.github/workflows/swarm-run.yml', 'WORKFLOW_REF_UNPINNED'],
    [`acme/agents/.github/workflows/swarm-run.yml@${pin.toUpperCase()}`, 'WORKFLOW_REF_INVALID'],
    [`acme/agents/workflows/swarm-run.yml@${pin}`, 'WORKFLOW_REF_INVALID'],
    [`acme/agents/.github/workflows/../x.yml@${pin}`, 'WORKFLOW_REF_INVALID'],
    [`acme/agents/.github/workflows/run.sh@${pin}`, 'WORKFLOW_REF_INVALID'],
    [`acme/.github/workflows/swarm-run.yml@${pin}`, 'WORKFLOW_REF_INVALID'],
  ])('refuses %s with %s', (text, code) => {
    expect(() => parseWorkflowRef(text)).toThrow(expect.objectContaining({ code }));
  });
  it('checks request ids', () => {
    expect(checkRequestId('r-20261202-1-abc')).toBe('r-20261202-1-abc');
    for (const bad of ['', '-a', 'A', 'a_b', 'a'.repeat(64), 'a b']) expect(() => checkRequestId(bad)).toThrow(expect.objectContaining({ code: 'REQUEST_ID_INVALID' }));
  });
});
