/**
 * One run on the local backend (DESIGN section 5): restore the parent node, build the policy,
 * open egress, execute the step, record it in the state DB, snapshot and seal, ratchet the
 * capabilities, certify, and commit node + run in one catalog transaction.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  CERTIFICATE_PAYLOAD_TYPE,
  SwarmError,
  assertValidDocument,
  canonicalBytes,
  clockFromEnv,
  isValidName,
  isoTime,
  sha256Digest,
  signDsse,
  fsError,
  fsyncDir,
  writeFilesAtomic,
  type Clock,
  type EgressProvider,
  type EgressSession,
  type EgressSummary,
  type RouteMode,
} from '@swarm/core';
import { createSealedBundle, openSealedBundle } from '../bundle/index.js';
import { deriveDataKey, ratchetChainKey } from '../crypto/index.js';
import '../engine-errors.js';
import { createStateDb, recordRunAndCompact } from '../state-db.js';
import type { NodeRow, RunRow } from '../store/catalog.js';
import { runDir } from '../store/paths.js';
import { registerStore } from '../store/registry.js';
import { GENERATOR, Store } from '../store/store.js';
import { executeStep } from './execute-step.js';
import { writeOwnerFile } from './owner.js';
import { removeTree } from './remove-tree.js';

export interface LaunchOptions {
  cwd: string;
  node: string;
  /** Shell command line of the step (run with /bin/sh -c). */
  step?: string;
  stepFile?: string;
  prompt?: string;
  runId?: string;
  timeoutS?: number;
  allowColdStart?: boolean;
  /** Seed the workspace from this directory (launch from root only). */
  workspace?: string;
  allowHosts?: string[];
  routeMode?: RouteMode;
  /** Let the step use the host's network (still fenced in every other way where a sandbox exists). */
  unsandboxedEgress?: boolean;
  /** The step's sandbox and egress; without one, a run needs `unsandboxedEgress` and is not fenced at all. */
  egress?: EgressProvider;
  /** `NAME=VALUE` pairs the operator grants the step (names recorded in the policy, values never). */
  grantEnv?: Record<string, string>;
  /** Names of the caller's variables passed through to the step; their values are redacted from step.log. */
  passEnv?: string[];
  /** More host paths the step may read although the sandbox covers them (say, tools under /tmp). */
  readable?: string[];
  operation?: 'launch' | 'resume';
  env?: NodeJS.ProcessEnv;
  home?: string;
  clock?: Clock;
  signal?: AbortSignal;
  onOutput?: (chunk: Buffer) => void;
  onProgress?: (phase: string) => void;
  /** Keep the run's unpacked workspace after sealing (default: removed; export brings it back). */
  keepWorkspace?: boolean;
  /** Skip recording a node for a failed step. */
  discardFailed?: boolean;
  /** Include the new node's raw capability tokens in the result (secret; only on request). */
  reveal?: boolean;
}

export interface LaunchResult {
  run_id: string;
  status: 'succeeded' | 'failed';
  operation: string;
  node_id: string | null;
  parent_node_id: string;
  state_id: string | null;
  restore_mode: 'checkpoint' | 'cold_start';
  restore_reason: string | null;
  exit_code: number | null;
  signal: string | null;
  timed_out: boolean;
  interrupted: boolean;
  duration_ms: number;
  run_dir: string;
  bundle_sha256: string | null;
  artifact_hash: string | null;
  sandbox: string;
  egress: EgressSummary | null;
  timings_ms: Record<string, number>;
  /** Workspace entries the bundle could not carry (special files, links leaving the workspace). */
  skipped: Array<{ path: string; reason: string }>;
  /** Raw next capabilities, only with `reveal`. */
  revealed?: { state_cap_next: string; net_cap_next: string };
}

const EMPTY_EGRESS: EgressSummary = { requests: 0, allowed: 0, denied: 0, bytes_in: 0, bytes_out: 0, hosts: [] };

export async function launchRun(options: LaunchOptions): Promise<LaunchResult> {
  const env = options.env ?? process.env;
  const clock = options.clock ?? clockFromEnv(env);
  const store = Store.open(options.cwd, { home: options.home, clock, env });
  try {
    return await launchInStore(store, options, env, clock);
  } finally {
    store.close();
  }
}

async function launchInStore(store: Store, options: LaunchOptions, env: NodeJS.ProcessEnv, clock: Clock): Promise<LaunchResult> {
  const timings: Record<string, number> = {};
  const time = async <T>(name: string, fn: () => Promise<T> | T): Promise<T> => {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      timings[name] = Math.round((performance.now() - t0) * 100) / 100;
    }
  };
  const command = stepCommand(options);
  const argv = command.argv;
  const runId = options.runId ?? newRunId(clock);
  if (!isValidName(runId)) throw new SwarmError('INVALID_ARGUMENT', `invalid run id ${JSON.stringify(runId)}`, { hint: 'letters, digits, . _ - (max 128)' });
  // A committed run or node with this id; a run in progress is caught when its directory is reserved.
  if (store.catalog.getRun(runId) || store.catalog.getNode(`node-${runId}`)) {
    throw new SwarmError('RUN_ID_EXISTS', `run ${runId} already exists`, { details: { run_id: runId } });
  }
  const parent = await time('resolve', () => store.resolve(options.node));
  if (options.workspace !== undefined && parent.kind !== 'root') {
    throw new SwarmError('WORKSPACE_SEED_INVALID', '--workspace is only allowed on a launch from root');
  }
  if (!options.egress && !options.unsandboxedEgress) {
    // Fail closed: without a sandbox the step would see the network, the keys and the store.
    throw new SwarmError('NET_CAP_SANDBOX_UNAVAILABLE', 'no step sandbox was provided for this run, and unsandboxed egress was not allowed', {
      hint: 'pass --unsandboxed-egress to run with no sandbox at all (recorded in the policy and certificate)',
    });
  }
  const granted = grantedEnvironment(env, options.grantEnv ?? {}, options.passEnv ?? []);

  // Fail before the step runs if the operator's keys are unusable, not after.
  void store.rootSecret;
  void store.signingKey;
  const dir = runDir(store.paths, runId);
  reserveRunDir(dir, runId);
  // Marks the run as live for `run status` and `gc` until it commits.
  writeOwnerFile(dir);
  const workspaceDir = path.join(dir, 'workspace');
  // In a directory of its own, so SQLite's journal beside it lands where the step may write.
  const stateDir = path.join(dir, 'state');
  const stateDbPath = path.join(stateDir, 'state.db');
  // The step's private HOME: empty for each run, never sealed.
  const homeDir = path.join(dir, 'home');
  const startedAt = isoTime(clock);
  const operation = options.operation ?? (parent.kind === 'root' ? 'launch' : 'resume');
  let committed = false;
  let stepRan = false;
  let session: EgressSession | undefined;
  let sessionClosed = false;
  try {
    // 2. Restore.
    options.onProgress?.('restoring');
    const parentKeys = store.chainKeys(parent);
    const restore = await time('restore', () => restoreNode(store, parent, parentKeys.state, dir, options.allowColdStart ?? false));
    fs.mkdirSync(stateDir, { mode: 0o700 });
    fs.renameSync(path.join(dir, 'state.db'), stateDbPath);
    fs.mkdirSync(homeDir, { mode: 0o700 });
    if (options.workspace !== undefined) seedWorkspace(options.workspace, workspaceDir, store.paths.root);
    const promptFile = path.join(dir, 'prompt.txt');
    // Scratch input for the step; its digest is in the policy, so it needs no fsync.
    if (options.prompt !== undefined) fs.writeFileSync(promptFile, options.prompt, { mode: 0o600 });
    const scriptFile = path.join(dir, 'step.sh');
    if (command.script) fs.writeFileSync(scriptFile, command.script, { mode: 0o600 });

    // 3. Policy.
    const allowlist = [...new Set(options.allowHosts ?? [])].sort();
    const routeMode: RouteMode = options.routeMode ?? 'direct';
    const promptSha = options.prompt !== undefined ? sha256Digest(options.prompt) : null;
    const workflowRef = `local/swarm-local-run@${gitHead(store.paths.projectRoot) ?? 'unpinned'}`;

    // 4. Network: open egress before the step so the sandbox is in place when it starts.
    const nextState = ratchetChainKey(parentKeys.state, 'state_cap', 'run', runId);
    const nextNet = ratchetChainKey(parentKeys.net, 'net_cap', 'run', runId);
    if (options.egress) {
      session = await time('egress_open', () =>
        options.egress!.open({
          runId,
          runDir: dir,
          allowlist,
          routeMode,
          netCapChainKey: parentKeys.net.toString('hex'),
          expiresAtUnix: Math.floor(Date.now() / 1000) + Math.ceil(options.timeoutS ?? 24 * 3600) + 300,
          unsandboxed: options.unsandboxedEgress ?? false,
          layout: {
            writable: [workspaceDir, stateDir, homeDir],
            readable: [
              ...(options.prompt !== undefined ? [promptFile] : []),
              ...(command.script ? [scriptFile] : []),
              ...(options.readable ?? []).map((p) => path.resolve(p)),
            ],
            // The operator's keys and config, and every run of every store of this operator (this
            // run's own other files too).
            hidden: [store.home, ...registerStore(store.home, store.paths.root)],
            cwd: workspaceDir,
          },
        }),
      );
    }
    const sandbox = session?.sandbox ?? 'unsandboxed';
    const policy = {
      schema_version: 'agent_swarm-policy-v1',
      route_mode: routeMode,
      backend: 'local',
      egress: { allowlist, sandbox },
      step: { command_sha256: sha256Digest(canonicalBytes(command.attested)), prompt_sha256: promptSha },
      limits: { timeout_s: options.timeoutS ?? null },
      env: { granted: Object.keys(options.grantEnv ?? {}).sort(), passed: [...new Set(options.passEnv ?? [])].sort() },
      restore: { allow_cold_start: options.allowColdStart ?? false },
      workflow_ref: workflowRef,
      generated_at: startedAt,
      swarm: { generator: GENERATOR, unsandboxed_egress: sandbox === 'unsandboxed' || sandbox === 'bwrap-open-network' },
    };
    assertValidDocument('policy', policy, 'policy.json');
    const policyBytes = canonicalBytes(policy);

    // 5. Execute.
    const stepEnv: Record<string, string> = {
      ...stepBaseEnv(env, homeDir),
      ...granted.env,
      ...(session?.env ?? {}),
      SWARM_RUN_ID: runId,
      SWARM_NODE_ID: `node-${runId}`,
      SWARM_PARENT_NODE_ID: parent.node_id,
      SWARM_STATE_DB: stateDbPath,
      SWARM_WORKSPACE: workspaceDir,
      SWARM_PROMPT_FILE: options.prompt !== undefined ? promptFile : '',
    };
    const stepArgs = command.script ? [...argv, scriptFile] : argv;
    options.onProgress?.('running');
    let outcome;
    let egress: EgressSummary = EMPTY_EGRESS;
    try {
      outcome = await executeStep({
        command: session ? session.wrap(stepArgs) : { argv: stepArgs, controlPipes: 0 },
        cwd: workspaceDir,
        env: stepEnv,
        logFile: path.join(dir, 'step.log'),
        pidFile: path.join(dir, '.step.pgid'),
        secrets: [...(session?.secrets ?? []), ...granted.secrets, parentKeys.state.toString('hex'), parentKeys.net.toString('hex')],
        timeoutMs: options.timeoutS ? Math.round(options.timeoutS * 1000) : undefined,
        signal: options.signal,
        onOutput: options.onOutput,
      });
    } finally {
      stepRan = true;
      if (session) {
        sessionClosed = true;
        egress = await session.close();
      }
    }
    const finishedAt = isoTime(clock);
    const succeeded = outcome.exitCode === 0 && !outcome.timedOut && !outcome.interrupted;
    const status = succeeded ? 'succeeded' : 'failed';
    const durationMs = clock.fixed ? 0 : outcome.durationMs;
    // The digest of exactly what swarm wrote to step.log, not what the file holds now.
    const responseSha = outcome.outputSha256;

    const nodeId = `node-${runId}`;
    const stateId = `state-${runId}`;
    const ratchetStep = parent.ratchet_step + 1;
    const base: LaunchResult = {
      run_id: runId,
      status,
      operation,
      node_id: null,
      parent_node_id: parent.node_id,
      state_id: null,
      restore_mode: restore.mode,
      restore_reason: restore.reason,
      exit_code: outcome.exitCode,
      signal: outcome.signal,
      timed_out: outcome.timedOut,
      interrupted: outcome.interrupted,
      duration_ms: durationMs,
      run_dir: dir,
      bundle_sha256: null,
      artifact_hash: null,
      sandbox,
      egress,
      timings_ms: timings,
      skipped: [],
    };
    if (!succeeded && options.discardFailed) {
      removeTree(dir);
      return failOrReturn(base);
    }

    assertNotReplaced(workspaceDir, 'directory');
    assertNotReplaced(stateDbPath, 'file');
    // The facts of this run, as both the state DB's history and the catalog record them.
    const facts = {
      run_id: runId,
      node_id: nodeId,
      parent_node_id: parent.node_id,
      operation,
      status,
      exit_code: outcome.exitCode,
      signal: outcome.signal,
      restore_mode: restore.mode,
      started_at: startedAt,
      finished_at: finishedAt,
    };
    // 6. Record the run in the state DB.
    await time('record', () =>
      recordRunAndCompact(stateDbPath, {
        ...facts,
        step_sha256: policy.step.command_sha256,
        prompt_sha256: promptSha,
        output_sha256: responseSha,
      }),
    );

    // 7–8. Snapshot and seal under a data key derived from the new state capability.
    options.onProgress?.('sealing');
    const dataKey = deriveDataKey(nextState);
    const tmpBundle = path.join(dir, '.bundle.partial');
    const sealed = await time('seal', () =>
      createSealedBundle({ workspaceDir, stateDbPath, mtimeSec: Math.floor(clock.now() / 1000), dataKey, outFile: tmpBundle }),
    );
    // gc keeps objects that a live run is about to commit.
    fs.writeFileSync(path.join(dir, '.pending-object'), sealed.bundleSha256);
    await time('adopt', () => store.adoptObject(tmpBundle, sealed.bundleSha256));
    crashPoint(env, 'after-seal');

    // 10. Certify.
    const certificate = await time('certify', () => {
      const requestHash = sha256Digest(
        canonicalBytes({ run_id: runId, parent_node_id: parent.node_id, parent_bundle_sha256: parent.bundle_sha256, step: command.attested, prompt_sha256: promptSha, policy_hash: sha256Digest(policyBytes) }),
      );
      const doc = {
        type: 'loom-agent-run-v1',
        job_id: runId,
        request_hash: requestHash,
        mode: 'prompt-run',
        parent_state: { state_id: parent.state_id, bundle_sha256: parent.bundle_sha256, ratchet_step: parent.ratchet_step },
        result: {
          response_sha256: responseSha,
          response_locator: 'step.log',
          new_state: { state_id: stateId, bundle_sha256: sealed.bundleSha256, bundle_manifest_sha256: sealed.manifestSha256, ratchet_step: ratchetStep },
        },
        runtime: { workflow_ref: workflowRef, runner_class: 'local', started_at: startedAt, finished_at: finishedAt },
        // A replay window needs real time; a pinned clock (SOURCE_DATE_EPOCH) would make it
        // already expired for any verifier, so deterministic runs carry none.
        replay: clock.fixed
          ? undefined
          : {
              nonce: crypto.createHmac('sha256', store.rootSecret).update(`swarm-replay-nonce\0${runId}\0${sealed.bundleSha256}`).digest('hex'),
              expires_at_unix: Math.floor(clock.now() / 1000) + 30 * 24 * 3600,
            },
        policy: { schema_version: 'agent_swarm-policy-v1', policy_hash: sha256Digest(policyBytes), policy_ref: 'policy.json', policy_generated_at: startedAt },
        timestamp: finishedAt,
        swarm: {
          generator: GENERATOR,
          run_id: runId,
          node_id: nodeId,
          parent_node_id: parent.node_id,
          status,
          exit_code: outcome.exitCode,
          signal: outcome.signal,
          restore_mode: restore.mode,
          restore_reason: restore.reason,
          sandbox,
          egress_allowlist: allowlist,
          signer: store.signingKey.keyId,
        },
      };
      assertValidDocument('certificate', doc, 'certificate.json');
      return canonicalBytes(doc);
    });
    const artifactHash = sha256Digest(certificate);

    const row = store.buildNodeRow({
      nodeId,
      parentNodeId: parent.node_id,
      kind: 'run',
      status,
      stateId,
      ratchetStep,
      bundleSha256: sealed.bundleSha256,
      manifestSha256: sealed.manifestSha256,
      dataKey,
      keys: { state: nextState, net: nextNet },
      runId,
      label: null,
      createdAt: finishedAt,
      artifactHash,
      routeMode,
    });
    const resultDoc = {
      run_id: runId,
      status,
      operation,
      node_id: nodeId,
      parent_node_id: parent.node_id,
      state_id: stateId,
      restore_mode: restore.mode,
      ...(restore.reason ? { restore_reason: restore.reason } : {}),
      bundle_ref: `swarm-object://sha256/${sealed.bundleSha256.slice(7)}`,
      bundle_sha256: sealed.bundleSha256,
      certificate_ref: 'certificate.json',
      artifact_hash: artifactHash,
      exit_code: outcome.exitCode,
      signal: outcome.signal,
      duration_ms: durationMs,
      egress,
      swarm: {
        generator: GENERATOR,
        sandbox,
        timed_out: outcome.timedOut,
        interrupted: outcome.interrupted,
        skipped_entries: sealed.skippedEntries.map((e) => ({ path: e.path, reason: String(e.reason) })),
      },
    };
    assertValidDocument('result', resultDoc, 'result.json');
    const nextTokens = {
      state_cap_next: row.state_cap_sealed,
      net_cap_next: row.net_cap_sealed,
      state_id_next: stateId,
      ratchet_step: ratchetStep,
      swarm: { generator: GENERATOR, sealed: true },
    };
    assertValidDocument('next_tokens', nextTokens, 'next_tokens.json');
    assertValidDocument('node', JSON.parse(row.node_json), 'node');
    await time('write', () =>
      writeFilesAtomic(dir, [
        { name: 'certificate.json', data: certificate },
        { name: 'certificate.dsse.json', data: canonicalBytes(signDsse(CERTIFICATE_PAYLOAD_TYPE, certificate, store.signingKey)) },
        { name: 'result.json', data: canonicalBytes(resultDoc) },
        { name: 'next_tokens.json', data: canonicalBytes(nextTokens) },
        // Written only now, so the step cannot have replaced it.
        { name: 'policy.json', data: policyBytes },
      ]),
    );

    crashPoint(env, 'before-commit');
    // 11. Commit: everything above is durable; now the node becomes visible, all at once.
    const runRow: RunRow = {
      ...facts,
      duration_ms: durationMs,
      backend: 'local',
      artifact_hash: artifactHash,
      step_json: JSON.stringify({ step: command.attested, prompt_sha256: promptSha, timeout_s: options.timeoutS ?? null }),
    };
    await time('commit', () =>
      store.catalog.write(() => {
        store.catalog.insertNode(row);
        store.catalog.insertRun(runRow);
      }),
    );
    committed = true;
    fs.rmSync(path.join(dir, '.owner.pid'), { force: true });
    fs.rmSync(path.join(dir, '.pending-object'), { force: true });
    removeTree(homeDir);
    if (!options.keepWorkspace) {
      removeTree(workspaceDir);
      removeTree(stateDir);
    }
    const revealed = options.reveal
      ? { state_cap_next: store.revealCapability(row, 'state_cap'), net_cap_next: store.revealCapability(row, 'net_cap') }
      : undefined;
    const skipped = sealed.skippedEntries.map((e) => ({ path: e.path, reason: String(e.reason) }));
    return failOrReturn({ ...base, node_id: nodeId, state_id: stateId, bundle_sha256: sealed.bundleSha256, artifact_hash: artifactHash, revealed, skipped });
  } catch (error) {
    if (session && !sessionClosed) await session.close().catch(() => undefined);
    if (!committed) {
      if (stepRan && !isSandboxSetupFailure(error)) {
        // The log stays for inspection (the run shows as abandoned; gc removes it), but what was
        // never sealed does not stay on disk in plaintext.
        for (const plain of [workspaceDir, stateDir, homeDir]) removeTreeQuietly(plain);
        fs.rmSync(path.join(dir, '.owner.pid'), { force: true });
      } else {
        removeTreeQuietly(dir);
      }
    }
    throw error;
  }
}

/** On a failure path the failure is what must reach the user, not a cleanup error (gc retries). */
function removeTreeQuietly(dir: string): void {
  try {
    removeTree(dir);
  } catch {
    // left for gc
  }
}

/** A step could replace its workspace or state DB with a link to elsewhere; swarm will not follow it. */
function assertNotReplaced(file: string, kind: 'file' | 'directory'): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch (cause) {
    throw new SwarmError('STATE_DB_INVALID', `the step removed its ${kind === 'file' ? 'state DB' : 'workspace'}`, { cause });
  }
  if (kind === 'file' ? !st.isFile() : !st.isDirectory()) {
    throw new SwarmError('STATE_DB_INVALID', `the step replaced its ${kind === 'file' ? 'state DB' : 'workspace'} with something that is not a ${kind}`);
  }
}

function reserveRunDir(dir: string, runId: string): void {
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  try {
    // Not recursive: creating the directory is the reservation of the run id.
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new SwarmError('RUN_ID_EXISTS', `run ${runId} already exists`, { details: { run_id: runId } });
    }
    throw fsError('IO_WRITE_FAILED', dir, cause);
  }
  fsyncDir(path.dirname(dir));
}

/** A failed step is still a recorded node; the error carries the result for the envelope. */
function failOrReturn(result: LaunchResult): LaunchResult {
  if (result.status === 'succeeded') return result;
  const code = result.timed_out ? 'STEP_TIMEOUT' : result.interrupted ? 'STEP_INTERRUPTED' : 'STEP_FAILED';
  const why = result.timed_out
    ? 'timed out'
    : result.interrupted
      ? 'was interrupted'
      : result.signal
        ? `was killed by ${result.signal}`
        : `exited with ${result.exit_code}`;
  throw new SwarmError(code, `step ${why}; ${result.node_id ? `failed node ${result.node_id} recorded` : 'no node recorded'}`, {
    details: result,
    hint: result.node_id ? `inspect it with \`swarm state inspect --node ${result.node_id}\` or resume from it` : undefined,
  });
}

interface Restored {
  mode: 'checkpoint' | 'cold_start';
  reason: string | null;
}

async function restoreNode(store: Store, node: NodeRow, stateKey: Buffer, dir: string, allowColdStart: boolean): Promise<Restored> {
  try {
    const dataKey = store.dataKey(node, stateKey);
    await openSealedBundle({ file: store.objectFile(node.bundle_sha256), dataKey, expectedSha256: node.bundle_sha256, destDir: dir });
    return { mode: 'checkpoint', reason: null };
  } catch (error) {
    if (!(error instanceof SwarmError) || error.category !== 'restore') throw error;
    const code = error.code;
    const reason = `${code}: ${error.message.split(store.paths.projectRoot).join('<project>')}`;
    fs.rmSync(path.join(dir, 'workspace'), { recursive: true, force: true });
    fs.rmSync(path.join(dir, 'state.db'), { force: true });
    if (!allowColdStart) {
      throw new SwarmError('RESTORE_FAILED', `cannot restore node ${node.node_id}: ${reason}`, {
        details: { node_id: node.node_id, cause_code: code },
        hint: 'pass --allow-cold-start to start from an empty workspace and state instead',
        cause: error,
      });
    }
    fs.mkdirSync(path.join(dir, 'workspace'), { recursive: true });
    createStateDb(path.join(dir, 'state.db'));
    return { mode: 'cold_start', reason };
  }
}

function seedWorkspace(source: string, workspaceDir: string, storeDir: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(source);
  } catch {
    throw new SwarmError('WORKSPACE_SEED_INVALID', `--workspace ${source} does not exist`);
  }
  if (!stat.isDirectory()) throw new SwarmError('WORKSPACE_SEED_INVALID', `--workspace ${source} is not a directory`);
  const real = fs.realpathSync(source);
  const storeRoot = fs.realpathSync(storeDir);
  const inside = (a: string, b: string) => a === b || a.startsWith(b + path.sep);
  if (inside(storeRoot, real) || inside(real, storeRoot)) {
    throw new SwarmError('WORKSPACE_SEED_INVALID', `--workspace ${source} overlaps the .swarm store`, {
      hint: 'seed from a directory that neither contains nor lies inside .swarm/',
    });
  }
  try {
    fs.cpSync(real, workspaceDir, {
      recursive: true,
      verbatimSymlinks: true,
      preserveTimestamps: false,
      filter: (src) => {
        const s = fs.lstatSync(src);
        return s.isDirectory() || s.isFile() || s.isSymbolicLink();
      },
    });
  } catch (cause) {
    throw fsError('WORKSPACE_SEED_INVALID', source, cause);
  }
}

interface StepCommand {
  /** What runs. */
  argv: string[];
  /** What the policy and certificate attest: the command line, or the script's content digest. */
  attested: unknown;
  /** A step file's bytes, copied into the run directory so what runs is what was hashed. */
  script?: Buffer;
}

function stepCommand(options: LaunchOptions): StepCommand {
  if (options.step !== undefined && options.stepFile !== undefined) {
    throw new SwarmError('INVALID_ARGUMENT', 'give either --step or --step-file, not both');
  }
  if (options.stepFile !== undefined) {
    const file = path.resolve(options.cwd, options.stepFile);
    let script: Buffer;
    try {
      if (!fs.statSync(file).isFile()) throw new Error('not a regular file');
      script = fs.readFileSync(file);
    } catch (cause) {
      throw new SwarmError('FILE_NOT_FOUND', `step file ${options.stepFile} is not a readable file`, { details: { path: options.stepFile }, cause });
    }
    return { argv: ['/bin/sh'], attested: { shell: '/bin/sh', script_sha256: sha256Digest(script) }, script };
  }
  return { argv: stepArgv(options), attested: stepArgv(options) };
}

function stepArgv(options: LaunchOptions): string[] {
  if (options.step === undefined || options.step.trim() === '') {
    throw new SwarmError('STEP_MISSING', 'no step given', { hint: 'pass --step "<command>" or --step-file <file>' });
  }
  return ['/bin/sh', '-c', options.step];
}

function newRunId(clock: Clock): string {
  const stamp = new Date(clock.fixed ? Date.now() : clock.now()).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').replace('T', '-');
  return `r-${stamp}-${crypto.randomBytes(3).toString('hex')}`;
}

/**
 * The environment every step gets (docs/security.md): default-deny, so the caller's tokens and
 * keys never reach it unless granted. HOME is the run's private home.
 */
export const STEP_BASE_ENV = ['PATH', 'LANG', 'LANGUAGE', 'LC_*', 'TERM', 'TZ', 'COLORTERM', 'NO_COLOR'] as const;

function stepBaseEnv(env: NodeJS.ProcessEnv, home: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (STEP_BASE_ENV.some((name) => (name.endsWith('*') ? k.startsWith(name.slice(0, -1)) : k === name))) out[k] = v;
  }
  out.PATH ??= '/usr/local/bin:/usr/bin:/bin';
  const user = os.userInfo().username;
  return { ...out, HOME: home, USER: user, LOGNAME: user, SHELL: '/bin/sh', TMPDIR: '/tmp' };
}

/** Names a step may not be granted: they would steer swarm or bypass the broker. */
const RESERVED_ENV = /^(SWARM_.*|HOME|(https?|all|no|ftp)_proxy)$/i;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `--env NAME=VALUE` and `--pass-env NAME`, checked; passed values are secrets for the redactor. */
function grantedEnvironment(env: NodeJS.ProcessEnv, grant: Record<string, string>, pass: string[]): { env: Record<string, string>; secrets: string[] } {
  const out: Record<string, string> = {};
  const secrets: string[] = [];
  const check = (name: string, flag: string) => {
    if (!ENV_NAME.test(name)) throw new SwarmError('INVALID_ARGUMENT', `${flag} ${JSON.stringify(name)}: not a variable name`);
    if (RESERVED_ENV.test(name)) throw new SwarmError('INVALID_ARGUMENT', `${flag} ${name}: swarm sets this variable itself`);
  };
  for (const [name, value] of Object.entries(grant)) {
    check(name, '--env');
    out[name] = value;
  }
  for (const name of pass) {
    check(name, '--pass-env');
    const value = env[name];
    if (value === undefined) throw new SwarmError('INVALID_ARGUMENT', `--pass-env ${name}: the variable is not set`);
    out[name] = value;
    if (value.length > 0) secrets.push(value);
  }
  return { env: out, secrets };
}

function isSandboxSetupFailure(error: unknown): boolean {
  return error instanceof SwarmError && error.code === 'NET_CAP_SANDBOX_UNAVAILABLE';
}

/**
 * Fault injection for crash-safety tests: SWARM_FAULT_INJECT=<point> kills this process with
 * SIGKILL at that point, exactly like a power cut or an OOM kill would.
 */
function crashPoint(env: NodeJS.ProcessEnv, point: string): void {
  if (env.SWARM_FAULT_INJECT === point) process.kill(process.pid, 'SIGKILL');
}

function gitHead(dir: string): string | undefined {
  try {
    const out = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).toString().trim();
    return /^[0-9a-f]{40}$/.test(out) ? out : undefined;
  } catch {
    return undefined;
  }
}
