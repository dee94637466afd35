// The certificate bound to the job that made it: the worker asks the Actions OIDC issuer (the
// emulator plays GHES's `/_services/token`) for a token whose audience is the certificate's
// digest, and collect checks its signature and claims. A runner key alone no longer forges a
// node: a token for another audience, commit, run or workflow, a token signed by another key, or
// none at all, is refused with the DAG unchanged.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readArtifactFiles, replaceArtifact, restoreArtifact, storedArtifact, withManifest, zipFiles } from './artifact-tamper.js';
import { GH_AVAILABLE, REPO, expectNoLeak, leakCorpus, standingSecrets, startHarness, type Harness } from './harness.js';

let h: Harness;

async function dispatched(runId: string): Promise<{ requestId: string; remoteRunId: number }> {
  const d = await h.swarm(['backend', 'github', 'dispatch', '--repo', REPO, '--node', 'run:base', '--run-id', runId, '--step', `echo ${runId} > out.txt`]);
  expect(d.code, d.stderr + d.stdout).toBe(0);
  await h.runner.idle();
  return { requestId: d.envelope.data.request_id, remoteRunId: d.envelope.data.remote_run_id };
}

const collect = (runId: string) => h.swarm(['backend', 'github', 'collect', '--run-id', runId]);

describe.skipIf(!GH_AVAILABLE)('github backend: the OIDC binding of each certificate', () => {
  beforeAll(async () => {
    h = await startHarness('oidc');
    const base = await h.swarm(['run', 'launch', '--node', 'root', '--run-id', 'base', '--step', 'echo x > x.txt']);
    expect(base.code, base.stderr).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await h?.close();
  });

  it('a collected node keeps the token and the issuer keys it was checked with; its audience is the certificate', async () => {
    await dispatched('o1');
    const c = await collect('o1');
    expect(c.code, c.stdout).toBe(0);
    const dir = path.join(h.project, '.swarm', 'runs', 'o1');
    const jwt = fs.readFileSync(path.join(dir, 'oidc.jwt'), 'utf8');
    const claims = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'));
    const certificate = fs.readFileSync(path.join(dir, 'certificate.json'));
    expect(claims.aud).toBe(`swarm:sha256:${crypto.createHash('sha256').update(certificate).digest('hex')}`);
    expect(claims.repository).toBe(REPO);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'oidc-jwks.json'), 'utf8')).keys).toHaveLength(1);
    // The job asked with its request token, which the job log shows masked and the step never saw.
    const run = h.emulator.runs(REPO).find((r) => r.display_title.startsWith('swarm o1-'))!;
    expect(h.emulator.log(run.id).join('\n')).not.toContain(h.emulator.oidcRequestTokens()[0]!);
  }, 60_000);

  it.each([
    ['another audience', { aud: 'swarm:sha256:' + '0'.repeat(64) }, 'aud'],
    ['another workflow commit', { job_workflow_sha: 'f'.repeat(40) }, 'job_workflow_sha'],
    ['another workflow file', { job_workflow_ref: `${REPO}/.github/workflows/other.yml@refs/tags/x` }, 'job_workflow_ref'],
    ['another run', { run_id: '1' }, 'run_id'],
    ['an expired token', { exp: Math.floor(Date.now() / 1000) - 3600 }, 'exp'],
    ['another issuer', { iss: 'https://token.actions.githubusercontent.com' }, 'iss'],
  ])('refuses a token for %s: OIDC_INVALID (exit 3), nothing imported', async (_what, claims, field) => {
    const runId = `o-${field.replace(/_/g, '')}`;
    h.emulator.oidcOverride(claims);
    try {
      await dispatched(runId);
    } finally {
      h.emulator.oidcOverride({});
    }
    const c = await collect(runId);
    expect(c.code, c.stdout).toBe(3);
    expect(c.envelope.error.code).toBe('OIDC_INVALID');
    expect(c.envelope.error.message).toContain(field);
    expect(fs.existsSync(path.join(h.project, '.swarm', 'runs', runId))).toBe(false);
  }, 60_000);

  it('refuses a token signed by another key, and an artifact without one; the genuine one then collects', async () => {
    const { requestId, remoteRunId } = await dispatched('o-forged');
    const original = storedArtifact(h.emulator, remoteRunId, requestId);
    const files = readArtifactFiles(original.bytes);
    const genuine = files.get('oidc.jwt')!.toString('utf8');
    const [head, body] = genuine.split('.');
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const forged = `${head}.${body}.${crypto.sign('sha256', Buffer.from(`${head}.${body}`), privateKey).toString('base64url')}`;
    try {
      const swapped = new Map(files);
      swapped.set('oidc.jwt', Buffer.from(forged));
      replaceArtifact(h.emulator, original.id, zipFiles(withManifest(swapped)));
      const bad = await collect('o-forged');
      expect(bad.code, bad.stdout).toBe(3);
      expect(bad.envelope.error.message).toContain('bad signature');
      const none = new Map(files);
      none.delete('oidc.jwt');
      replaceArtifact(h.emulator, original.id, zipFiles(withManifest(none)));
      const missing = await collect('o-forged');
      expect(missing.code, missing.stdout).toBe(3);
      expect(missing.envelope.error.code).toBe('OIDC_INVALID');
    } finally {
      restoreArtifact(h.emulator, original);
    }
    const ok = await collect('o-forged');
    expect(ok.code, ok.stdout).toBe(0);
  }, 60_000);

  it("run as the `swarm` command, whose shell line leaves NODE_EXTRA_CA_CERTS to swarm's own HTTPS, collect reaches the issuer through that file; without the file it cannot, and imports nothing", async () => {
    await dispatched('o-command');
    // Weakened first: gh still trusts the emulator (SSL_CERT_FILE), swarm's fetch of the issuer's keys does not.
    const untrusted = await h.swarm(['backend', 'github', 'collect', '--run-id', 'o-command'], { asCommand: true, env: { ...h.env, NODE_EXTRA_CA_CERTS: undefined } });
    expect(untrusted.code, untrusted.stdout).toBe(4);
    expect(untrusted.envelope.error.code).toBe('GH_TRANSPORT_FAILED');
    expect(untrusted.envelope.error.message).toContain('the OIDC issuer at https://localhost:');
    expect(fs.existsSync(path.join(h.project, '.swarm', 'runs', 'o-command'))).toBe(false);
    const trusted = await h.swarm(['backend', 'github', 'collect', '--run-id', 'o-command'], { asCommand: true });
    expect(trusted.code, trusted.stdout).toBe(0);
    expect(fs.existsSync(path.join(h.project, '.swarm', 'runs', 'o-command', 'oidc-jwks.json'))).toBe(true);
  }, 60_000);

  it('leaves no key or token, the OIDC request tokens included, anywhere GitHub or a log could show it', () => {
    const corpus = leakCorpus(h);
    expect(corpus).toContain('swarm o1-');
    expectNoLeak(corpus, [['oidc request token', h.emulator.oidcRequestTokens()], ...standingSecrets(h)]);
  });
});
