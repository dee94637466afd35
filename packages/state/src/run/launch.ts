/**
 * One run on the local backend (DESIGN section 5): the engine's phases (../engine/) composed with
 * this store — the parent node resolved and its capabilities unsealed, the run's row written as
 * it starts, the sealed bundle adopted into the object store, and node and run committed in one
 * catalog transaction.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SwarmError, clockFromEnv, fsError, fsyncDir, isValidName, isoTime, type Clock, type EgressProvider, type EgressSession, type EgressSummary, type RouteMode, type SandboxKind } from '@swarm/core';
import {
  DEFAULT_MOUNT_PATH,
  buildPolicy,
  certify,
  checkMountPath,
  commit,
  execute,
  grantedEnvironment,
  nextTokensDocument,
  openEgress,
  operatorSecretDirs,
  ratchet,
  record,
  requireEgress,
  restore,
  resultDocument,
  runPaths,
  seal,
  snapshot,
  stepCommand,
  writeContractFiles,
  writeStepInputs,
  type RunFacts,
} from '../engine/index.js';
import '../engine-errors.js';
import type { NodeRow, RunRow } from '../store/catalog.js';
import { buildNodeRow } from '../store/node-row.js';
import { ALL_AGENTS, HOME_EXCLUSIONS } from '../agents/index.js';
import { ingestTranscripts, redactTranscripts, type TranscriptSummary } from '../agents/ingest.js';
import { agentStep, chooseAgent, parentSession, writeHomeFiles, type AgentChoice } from '../engine/agent-step.js';
import type { StepCommand } from '../engine/step-command.js';
import { resolveSecretGrants } from '../secrets/index.js';
import { runDir } from '../store/paths.js';
import { registerStore } from '../store/registry.js';
import { Store } from '../store/store.js';
import { projectHead } from './git-head.js';
import { writeOwnerFile } from './owner.js';
import { inheritedEgress } from './inherit.js';
import { redactText } from './redact.js';
import { removeTree } from './remove-tree.js';
import { copySeed, planSeed, sealSeed } from './seed.js';
import { claimTree, evict, publishTree, treeCacheSize } from '../chunks/cache.js';
import { nodeObjectDigest, restoreNodeInto } from '../chunks/node-content.js';
import type { Snapshot, SnapshotStats } from '../chunks/snapshot.js';

export interface LaunchOptions {
  cwd: string;
  node: string;
  /** Shell command line of the step (run with /bin/sh -c). */
  step?: string;
  stepFile?: string;
  prompt?: string;
  /** An agent CLI as the step (with `prompt`), continuing the parent node's conversation. */
  agent?: string;
  /** Extra arguments for the agent's CLI (after `--`). */
  agentArgs?: string[];
  /** Run the agent with a terminal for a person (its own pty inside the sandbox). */
  interactive?: boolean;
  /** `NAME[=ENVVAR]`: stored secrets granted to the step's environment (names in the policy, values never). */
  secrets?: string[];
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
  /** More host paths the step must not see (a worker hides the runner's home and temp). */
  hidden?: string[];
  /**
   * Start from an empty allowlist and the default route mode instead of the parent run's (by
   * default a run inherits them; `allowHosts` adds to what it inherits).
   */
  noInheritEgress?: boolean;
  /**
   * Where the step sees its workspace in the sandbox; by default the parent run's, else the
   * directory the chain was seeded from, else a fixed path. Recorded in the policy.
   */
  mountPath?: string;
  /** `--publish`: ports of the step reached from the host's 127.0.0.1 (hostPort 0: a free one). Recorded in the policy. */
  publish?: Array<{ port: number; hostPort: number }>;
  /** Called before the step starts: where its workspace lives, what it was seeded from, how it is fenced, what is published. */
  onStart?: (info: { run_id: string; workspace: string; seed: SeedInfo | null; sandbox: SandboxKind; published: Array<{ port: number; hostPort: number }> }) => void;
  operation?: 'launch' | 'resume';
  env?: NodeJS.ProcessEnv;
  home?: string;
  clock?: Clock;
  signal?: AbortSignal;
  onOutput?: (chunk: Buffer) => void;
  /** A phase starts; restore and seal then report bytes done of all. */
  onProgress?: (phase: string, bytes?: { done: number; total: number }) => void;
  /** Keep the run's unpacked workspace after sealing (default: removed; export brings it back). */
  keepWorkspace?: boolean;
  /** Skip recording a node for a failed step. */
  discardFailed?: boolean;
  /** Include the new node's raw capability tokens in the result (secret; only on request). */
  reveal?: boolean;
  /**
   * A run executed on behalf of a remote backend (a GitHub worker): the pinned workflow ref and
   * runner class it certifies, and what the certificate's runtime records of where it ran.
   */
  remote?: RemoteRuntime;
}

export interface RemoteRuntime {
  backend: 'github';
  workflowRef: string;
  runnerClass: string;
  /** Recorded as `runtime.<backend>` in the certificate (repository, run id, attempt, …). */
  runtime: Record<string, unknown>;
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
  /** The effective egress of the run: inherited from the parent run plus what was added. */
  allowlist: string[];
  route_mode: RouteMode;
  inherited_egress: { allowlist: string[]; route_mode: RouteMode | null; from_run: string | null };
  /** Where the workspace was (or still is, with keepWorkspace), and where the step saw it. */
  workspace: { path: string; kept: boolean; mount_path: string };
  /** The seed node, for a launch with `workspace`. */
  seed: SeedInfo | null;
  /** The agent that ran, the session it continued, and what its transcripts say (counts and names only). */
  agent: { name: string; resumed_session: string | null; transcripts: TranscriptSummary } | null;
  /** Home paths left out of the node (credentials, environment dumps). */
  home_excluded: string[];
  /** How the run's tree got there and what its node cost the store. */
  storage: StorageInfo;
}

export interface StorageInfo {
  /** `cache`: the parent's cached tree; `chunks`/`bundle`: restored from the parent's object; `empty`: cold start. */
  restored_from: 'cache' | 'chunks' | 'bundle' | 'empty';
  /** `chunks`: a sealed index over the chunk store; `bundle`: a sealed tar (remote workers). */
  format: 'chunks' | 'bundle';
  /** Whether the new node's tree was kept in the tree cache. */
  cached: boolean;
  snapshot: SnapshotStats | null;
}

export interface SeedInfo {
  source: string;
  node_id: string | null;
  /** Parts of the source left out of the seed (the store itself, SWARM_HOME). */
  excluded: string[];
}

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
  // Everything that can be refused is checked before anything is written.
  const agent = options.agent !== undefined ? chooseAgentRun(options, env) : null;
  let command: StepCommand = agent ? { argv: [agent.bin], attested: { agent: agent.adapter.name } } : stepCommand(options);
  const runId = options.runId ?? newRunId(clock);
  if (!isValidName(runId)) throw new SwarmError('INVALID_ARGUMENT', `invalid run id ${JSON.stringify(runId)}`, { hint: 'letters, digits, . _ - (max 128)' });
  if (store.catalog.getRun(runId) || store.catalog.getNode(`node-${runId}`)) {
    throw new SwarmError('RUN_ID_EXISTS', `run ${runId} already exists`, { details: { run_id: runId } });
  }
  let parent = await time('resolve', () => store.resolve(options.node));
  const head = options.remote?.workflowRef === undefined ? projectHead(store.paths.projectRoot, env) : Promise.resolve(undefined);
  if (options.workspace !== undefined && parent.kind !== 'root') {
    throw new SwarmError('WORKSPACE_SEED_INVALID', '--workspace is only allowed on a launch from root');
  }
  requireEgress(options.egress, options.unsandboxedEgress ?? false);
  const granted = grantedEnvironment(env, options.grantEnv ?? {}, options.passEnv ?? []);
  const secretGrants = options.secrets && options.secrets.length > 0 ? resolveSecretGrants(store.home, options.secrets, { runId, at: isoTime(clock) }) : null;
  if (secretGrants) {
    Object.assign(granted.env, secretGrants.env);
    granted.secrets.push(...secretGrants.values);
  }
  // Agents write JSON: a value with a quote, a backslash or a newline appears there escaped.
  for (const value of [...granted.secrets]) {
    const escaped = JSON.stringify(value).slice(1, -1);
    if (escaped !== value) granted.secrets.push(escaped);
  }
  // Fail before the step runs if the operator's keys are unusable, not after.
  const signer = store.keys.signingKey;
  let parentKeys = store.keys.chainKeys(parent);
  // --no-inherit-egress drops the parent's egress, not where its workspace was (when that can be read).
  const inherited = options.noInheritEgress
    ? { allowlist: [], route_mode: null, from_run: null, mount_path: mountPathOf(() => inheritedEgress(store, parent)) }
    : inheritedEgress(store, parent);
  // Every store of this operator and SWARM_HOME stay out of a seed (as out of the sandbox).
  // ... and the operator's credential directories, for a seed from the home directory itself.
  const privateDirs = [store.home, ...registerStore(store.home, store.paths.root), ...operatorSecretDirs(env.HOME || os.homedir()), ...(options.hidden ?? [])];
  const seedPlan = options.workspace !== undefined ? planSeed(options.workspace, privateDirs) : null;
  // The same absolute path in every run of a chain: agents key their sessions by directory.
  const mountPath = options.mountPath ?? inherited.mount_path ?? seedPlan?.source ?? DEFAULT_MOUNT_PATH;
  checkMountPath(mountPath, privateDirs);

  const dir = runDir(store.paths, runId);
  const paths = runPaths(dir);
  reserveRunDir(dir, runId);
  // Marks the run as live for `run status` and `gc` until it commits.
  writeOwnerFile(dir);
  const startedAt = isoTime(clock);
  const operation = options.operation ?? (parent.kind === 'root' ? 'launch' : 'resume');
  const stepJson = JSON.stringify({ step: command.attested, prompt_sha256: null, timeout_s: options.timeoutS ?? null });
  let rowWritten = false;
  let committed = false;
  let stepRan = false;
  let session: EgressSession | undefined;
  let seed: SeedInfo | null = null;
  let seedNode: NodeRow | undefined;
  try {
    store.catalog.startRun({ run_id: runId, parent_node_id: parent.node_id, operation, started_at: startedAt, backend: options.remote?.backend ?? 'local', step_json: stepJson });
    rowWritten = true;

    // 1. Restore: the parent's cached tree when there is one, else from its object.
    // Local runs store chunks; a remote worker seals the tar bundle its backend ships.
    const chunked = options.remote === undefined;
    const cacheSize = chunked ? treeCacheSize(env) : 0;
    // The cache turned off: trees it kept before go too (they are plaintext).
    if (chunked && cacheSize === 0) evictQuietly(store.paths);
    const chunkEpoch = store.catalog.chunkEpoch();
    const markPending = (pack: string) => {
      fs.appendFileSync(paths.pendingObject, `pack:${pack}\n`);
      // Fault injection: killed in the middle of a snapshot, one pack on its way into packs/.
      crashPoint(env, 'snapshot-pack');
    };
    options.onProgress?.('restoring');
    let restoredFrom: StorageInfo['restored_from'] = 'cache';
    const restored = await time('restore', async () => {
      const claimed = cacheSize > 0 ? claimTree(store.paths, nodeObjectDigest(parent), paths) : null;
      if (claimed) return { mode: 'checkpoint' as const, reason: null, records: claimed };
      const done = await restore({
        paths,
        open: async (key) => {
          const opened = await restoreNodeInto(store, parent, key, paths.dir, { onProgress: (d, total) => options.onProgress?.('restoring', { done: d, total }), records: chunked });
          restoredFrom = opened.records ? 'chunks' : 'bundle';
          return opened.records;
        },
        dataKey: () => store.keys.dataKey(parent, parentKeys.state),
        nodeId: parent.node_id,
        allowColdStart: options.allowColdStart ?? false,
        hidePrefix: store.paths.projectRoot,
      });
      if (done.mode === 'cold_start') restoredFrom = 'empty';
      return done;
    });
    let seedSnapshot: Snapshot | null = null;
    if (seedPlan) {
      // The seeded directory becomes a node of its own, so the chain records where it started
      // and `swarm apply` knows the base the repository was at.
      copySeed(seedPlan, paths.workspaceDir);
      const seeded = await time('seed', () =>
        sealSeed(store, { runId, root: parent, rootKeys: parentKeys, paths, clock, routeMode: options.routeMode, chunked, beforeAdopt: markPending }),
      );
      seedNode = seeded.node;
      parent = seeded.node;
      parentKeys = seeded.keys;
      seedSnapshot = seeded.snapshot;
      seed = { source: seedPlan.source, node_id: seeded.node.node_id, excluded: seedPlan.excluded };
    }
    writeStepInputs(paths, command, options.prompt);
    // The agent continues the conversation its parent node's run last wrote.
    const resumedSession = agent ? parentSession(paths, agent.adapter.name) : null;
    const endpoint = agent ? agent.adapter.endpoint(granted.env) : null;

    // 2. Egress: the sandbox is in place before the step starts.
    const allowlist = [...new Set([...inherited.allowlist, ...(options.allowHosts ?? []), ...(endpoint ? [endpoint.allowHost] : [])])].sort();
    const routeMode: RouteMode = options.routeMode ?? inherited.route_mode ?? 'direct';
    const egress = await time('egress_open', () =>
      openEgress({
        provider: options.egress,
        runId,
        paths,
        allowlist,
        routeMode,
        netChainKey: parentKeys.net,
        expiresAtUnix: Math.floor(Date.now() / 1000) + Math.ceil(options.timeoutS ?? 24 * 3600) + 300,
        unsandboxed: options.unsandboxedEgress ?? false,
        // The operator's keys and config, and every run of every store of this operator (this
        // run's own other files too).
        // bwrap skips those that do not exist.
        hidden: privateDirs,
        inputs: { prompt: options.prompt !== undefined, script: command.script !== undefined },
        readable: [...(options.readable ?? []), ...(agent ? agentReadable(agent.installDir, mountPath, privateDirs) : [])],
        mountPath,
        publish: options.publish,
      }),
    );
    session = egress.session;
    if (agent) {
      const built = agentStep({
        choice: agent,
        prompt: options.prompt ?? '',
        extraArgs: options.agentArgs ?? [],
        resumeSessionId: resumedSession,
        view: egress.view,
        grantedEnv: granted.env,
        interactive: options.interactive ?? false,
        sandboxed: egress.sandbox !== 'unsandboxed',
      });
      command = built.command;
      writeHomeFiles(paths.homeDir, built.homeFiles);
    }
    const sessionSecrets = session?.secrets ?? [];
    options.onStart?.({ run_id: runId, workspace: paths.workspaceDir, seed, sandbox: egress.sandbox, published: session?.published ?? [] });

    // 3. Policy.
    const workflowRef = options.remote?.workflowRef ?? `local/swarm-local-run@${(await head) ?? 'unpinned'}`;
    const backend = options.remote?.backend ?? 'local';
    const policy = buildPolicy({
      routeMode,
      backend,
      allowlist,
      sandbox: egress.sandbox,
      command: command.attested,
      prompt: options.prompt,
      timeoutS: options.timeoutS ?? null,
      env: { granted: granted.granted, passed: granted.passed, secrets: secretGrants?.names ?? [] },
      mountPath: egress.sandbox === 'unsandboxed' ? null : egress.view.workspace,
      published: (options.publish ?? []).map((p) => p.port),
      allowColdStart: options.allowColdStart ?? false,
      workflowRef,
      generatedAt: startedAt,
    });

    // 4. Execute.
    options.onProgress?.('running');
    const nodeId = `node-${runId}`;
    let executed;
    try {
      executed = await execute({
        paths,
        view: egress.view,
        command,
        session,
        callerEnv: env,
        granted,
        ids: { runId, nodeId, parentNodeId: parent.node_id },
        prompt: options.prompt,
        secrets: [parentKeys.state.toString('hex'), parentKeys.net.toString('hex')],
        timeoutS: options.timeoutS,
        signal: options.signal,
        onOutput: options.onOutput,
        interactive: options.interactive,
      });
    } finally {
      stepRan = true;
      session = undefined;
      // An unfenced step could reach the tree cache: no tree cached while it ran is trusted after it.
      if (egress.sandbox === 'unsandboxed') evictQuietly(store.paths);
    }
    const { outcome } = executed;
    const finishedAt = isoTime(clock);
    const succeeded = outcome.exitCode === 0 && !outcome.timedOut && !outcome.interrupted;
    const status = succeeded ? 'succeeded' : 'failed';
    const durationMs = clock.fixed ? 0 : outcome.durationMs;
    const stateId = `state-${runId}`;
    const ratchetStep = parent.ratchet_step + 1;
    const base: LaunchResult = {
      run_id: runId,
      status,
      operation,
      node_id: null,
      parent_node_id: parent.node_id,
      state_id: null,
      restore_mode: restored.mode,
      restore_reason: restored.reason,
      exit_code: outcome.exitCode,
      signal: outcome.signal,
      timed_out: outcome.timedOut,
      interrupted: outcome.interrupted,
      duration_ms: durationMs,
      run_dir: dir,
      bundle_sha256: null,
      artifact_hash: null,
      sandbox: egress.sandbox,
      egress: executed.egress,
      timings_ms: timings,
      skipped: [],
      allowlist,
      route_mode: routeMode,
      inherited_egress: inherited,
      workspace: { path: paths.workspaceDir, kept: false, mount_path: egress.view.workspace },
      seed,
      agent: null,
      home_excluded: [],
      storage: { restored_from: restoredFrom, format: chunked ? 'chunks' : 'bundle', cached: false, snapshot: null },
    };
    if (!succeeded && options.discardFailed) {
      store.catalog.forgetRun(runId);
      rowWritten = false;
      removeTree(dir);
      return failOrReturn(base);
    }
    // The facts of this run, as both the state DB's history and the catalog record them.
    const facts: RunFacts = {
      run_id: runId,
      node_id: nodeId,
      parent_node_id: parent.node_id,
      operation,
      status,
      exit_code: outcome.exitCode,
      signal: outcome.signal,
      restore_mode: restored.mode,
      started_at: startedAt,
      finished_at: finishedAt,
    };

    // Interrupted after the step ended by itself (while recording or sealing): no node may say
    // it succeeded, so none is committed. A step stopped by the interrupt is recorded as failed.
    const checkAborted = () => {
      if (options.signal?.aborted && !outcome.interrupted) {
        throw new SwarmError('STEP_INTERRUPTED', 'the run was interrupted after its step, before its node was committed; no node recorded', {
          details: { ...base, interrupted: true },
        });
      }
    };
    checkAborted();
    // 5. Record, with the transcripts the agents wrote (a granted key they echoed redacted first).
    let transcripts: TranscriptSummary | null = null;
    await time('record', () => {
      redactTranscripts(ALL_AGENTS, paths.homeDir, [...granted.secrets, ...sessionSecrets, parentKeys.state.toString('hex'), parentKeys.net.toString('hex')]);
      record(paths, facts, { step: policy.commandSha256, prompt: policy.promptSha256, output: outcome.outputSha256 }, (db) => {
        transcripts = ingestTranscripts(db, { adapters: ALL_AGENTS, homeDir: paths.homeDir, runId });
      });
    });
    const summary: TranscriptSummary = transcripts ?? EMPTY_TRANSCRIPTS;
    // A plain step that ran an agent CLI itself gets its transcripts summarised too.
    const agentName = agent?.adapter.name ?? summary.sessions[0]?.agent;
    const agentInfo = agentName ? { name: agentName, resumed_session: resumedSession, transcripts: summary } : null;

    // 6–7. Ratchet, then seal under a data key derived from the new state capability.
    const next = ratchet(parentKeys, runId);
    options.onProgress?.('sealing');
    const sealOptions = {
      secrets: [...granted.secrets],
      homeExclusions: HOME_EXCLUSIONS,
      onProgress: (done: number, total: number) => options.onProgress?.('sealing', { done, total }),
    };
    const snap = chunked
      ? await time('seal', () =>
          snapshot(paths, next.state, Math.floor(clock.now() / 1000), store.chunks, {
            ...sealOptions,
            parent: seedSnapshot?.records ?? restored.records,
            known: new Set(seedSnapshot?.rows.map((r) => r.id.toString('hex'))),
            // A sandbox's end takes every process of the step with it: nothing changes the tree now.
            quiescent: egress.sandbox !== 'unsandboxed',
            beforeAdopt: markPending,
          }),
        )
      : null;
    const sealed = snap ?? (await time('seal', () => seal(paths, next.state, Math.floor(clock.now() / 1000), sealOptions)));
    // gc keeps objects that a live run is about to commit.
    fs.appendFileSync(paths.pendingObject, `${sealed.bundleSha256}\n`);
    await time('adopt', () => store.objects.adopt(sealed.file, sealed.bundleSha256));
    crashPoint(env, 'after-seal');

    checkAborted();
    // 8. Certify.
    const certified = await time('certify', () =>
      certify({
        facts,
        stateId,
        ratchetStep,
        parent,
        command: command.attested,
        policy,
        outputSha256: outcome.outputSha256,
        sealed,
        restoreReason: restored.reason,
        workflowRef,
        runnerClass: options.remote?.runnerClass ?? 'local',
        runtimeExtra: options.remote ? { [options.remote.backend]: options.remote.runtime } : undefined,
        sandbox: egress.sandbox,
        allowlist,
        signer,
        nonceKey: store.keys.rootSecret,
        clock,
      }),
    );
    const skipped = sealed.skippedEntries.map((e) => ({ path: e.path, reason: String(e.reason) }));
    const row = buildNodeRow(store.keys, {
      nodeId,
      parentNodeId: parent.node_id,
      kind: 'run',
      status,
      stateId,
      ratchetStep,
      bundleSha256: sealed.bundleSha256,
      manifestSha256: sealed.manifestSha256,
      dataKey: sealed.dataKey,
      keys: next,
      runId,
      label: null,
      createdAt: finishedAt,
      artifactHash: certified.artifactHash,
      routeMode,
    });
    await time('write', () =>
      writeContractFiles(dir, {
        certificate: certified.certificate,
        envelope: certified.envelope,
        result: resultDocument({
          facts,
          stateId,
          restoreReason: restored.reason,
          bundleSha256: sealed.bundleSha256,
          artifactHash: certified.artifactHash,
          durationMs,
          egress: executed.egress,
          sandbox: egress.sandbox,
          timedOut: outcome.timedOut,
          interrupted: outcome.interrupted,
          skipped,
          agent: agentInfo,
        }),
        nextTokens: nextTokensDocument(row),
        policy: policy.bytes,
      }),
    );

    crashPoint(env, 'before-commit');
    checkAborted();
    // 9. Commit: everything above is durable; now the node becomes visible, all at once.
    const runRow: RunRow = {
      ...facts,
      duration_ms: durationMs,
      backend,
      artifact_hash: certified.artifactHash,
      step_json: JSON.stringify({ step: command.attested, prompt_sha256: policy.promptSha256, timeout_s: options.timeoutS ?? null }),
    };
    const chunkCommit = snap
      ? {
          rows: [...(seedSnapshot?.rows ?? []), ...snap.rows],
          existing: [...(seedSnapshot?.existing ?? []), ...snap.existing],
          epoch: chunkEpoch,
          all: () => [...(seedSnapshot?.allIds() ?? []), ...snap.allIds()],
        }
      : undefined;
    await time('commit', () => commit(store.catalog, row, runRow, seedNode ? [seedNode] : [], chunkCommit));
    committed = true;
    fs.rmSync(path.join(dir, '.owner.pid'), { force: true });
    fs.rmSync(paths.pendingObject, { force: true });
    // The tree becomes the new node's cached tree (only of a fenced step: an unsandboxed one may
    // have left a process or a link that could still write into it).
    let cached = false;
    if (snap && cacheSize > 0 && !options.keepWorkspace && egress.sandbox !== 'unsandboxed') {
      cached = await time('cache', () => {
        try {
          return publishTree(store.paths, sealed.bundleSha256, paths, snap, cacheSize);
        } catch {
          return false;
        }
      });
    }
    // The home is sealed, and what of it is never sealed (credentials, environment dumps) must not stay either.
    removeTree(paths.homeDir);
    if (!options.keepWorkspace) {
      removeTree(paths.workspaceDir);
      removeTree(paths.stateDir);
    }
    const workspace = { path: paths.workspaceDir, kept: options.keepWorkspace ?? false, mount_path: egress.view.workspace };
    const revealed = options.reveal
      ? { state_cap_next: store.keys.revealCapability(row, 'state_cap'), net_cap_next: store.keys.revealCapability(row, 'net_cap') }
      : undefined;
    return failOrReturn({
      ...base,
      node_id: nodeId,
      state_id: stateId,
      bundle_sha256: sealed.bundleSha256,
      artifact_hash: certified.artifactHash,
      revealed,
      skipped,
      workspace,
      agent: agentInfo,
      home_excluded: sealed.excluded,
      storage: { ...base.storage, restored_from: restoredFrom, cached, snapshot: snap?.stats ?? null },
    });
  } catch (error) {
    if (session) await session.close().catch(() => undefined);
    if (!committed) {
      if (stepRan && !isSandboxSetupFailure(error)) {
        // The log stays for inspection (the run shows as abandoned; gc removes it), but what was
        // never sealed does not stay on disk in plaintext.
        for (const plain of [paths.workspaceDir, paths.stateDir, paths.homeDir]) removeTreeQuietly(plain);
        fs.rmSync(path.join(dir, '.owner.pid'), { force: true });
        if (rowWritten) quietly(() => store.catalog.abandonRun(runId, isoTime(clock)));
      } else {
        removeTreeQuietly(dir);
        if (rowWritten) quietly(() => store.catalog.forgetRun(runId));
      }
    }
    throw redactError(error, granted.secrets);
  }
}

/**
 * What fails after the step started may quote what the step wrote (a file name, a message); a
 * granted value in it is redacted like in the log.
 */
function redactError(error: unknown, secrets: string[]): unknown {
  if (!(error instanceof SwarmError) || secrets.length === 0) return error;
  const message = redactText(error.message, secrets);
  const details = error.details === undefined ? undefined : JSON.parse(redactText(JSON.stringify(error.details), secrets.map((s) => JSON.stringify(s).slice(1, -1))));
  if (message === error.message && JSON.stringify(details) === JSON.stringify(error.details)) return error;
  return new SwarmError(error.code, message, { details, hint: error.hint, cause: error });
}

/**
 * The agent CLI's installation, when the sandbox would cover it (under /tmp, say): made readable,
 * unless that would lay the host's copy over the workspace or uncover a hidden directory.
 */
function agentReadable(installDir: string, mountPath: string, hidden: string[]): string[] {
  const under = (p: string, dir: string) => p === dir || p.startsWith(`${dir}/`);
  const covered = ['/tmp', '/var/tmp', '/run', '/dev/shm', ...hidden].some((dir) => under(installDir, dir));
  if (!covered || under(installDir, mountPath) || under(mountPath, installDir) || hidden.some((dir) => under(dir, installDir))) return [];
  return [installDir];
}

const EMPTY_TRANSCRIPTS: TranscriptSummary = { sessions: [], tools: {}, unknown_events: 0 };

/** An agent run's options, checked: a prompt, no step of its own, a terminal when interactive. */
function chooseAgentRun(options: LaunchOptions, env: NodeJS.ProcessEnv): AgentChoice {
  if (options.step !== undefined || options.stepFile !== undefined) {
    throw new SwarmError('AGENT_OPTIONS_INVALID', '--agent runs the agent as the step: give no --step or --step-file with it');
  }
  if (!options.interactive && (options.prompt === undefined || options.prompt.trim() === '')) {
    throw new SwarmError('AGENT_OPTIONS_INVALID', `--agent ${options.agent} needs --prompt "…"`, { hint: 'the prompt is what the agent is asked to do in this run' });
  }
  if (options.interactive && !(process.stdin.isTTY && process.stdout.isTTY)) {
    throw new SwarmError('AGENT_OPTIONS_INVALID', '--interactive needs a terminal on stdin and stdout', { hint: 'run it from a terminal, or drop --interactive and give --prompt' });
  }
  return chooseAgent(options.agent!, env, options.interactive ?? false);
}

function mountPathOf(read: () => { mount_path: string | null }): string | null {
  try {
    return read().mount_path;
  } catch {
    return null;
  }
}

/** On a failure path the failure is what must reach the user, not a cleanup error (gc retries). */
function quietly(fn: () => void): void {
  try {
    fn();
  } catch {
    // left for gc
  }
}

function evictQuietly(paths: Store['paths']): void {
  quietly(() => evict(paths, 0));
}

function removeTreeQuietly(dir: string): void {
  quietly(() => removeTree(dir));
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


/** A run id from the clock and a random suffix (`r-20261202-014500Z-3f9a1c`). */
export function newRunId(clock: Clock): string {
  const stamp = new Date(clock.fixed ? Date.now() : clock.now()).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').replace('T', '-');
  return `r-${stamp}-${crypto.randomBytes(3).toString('hex')}`;
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

