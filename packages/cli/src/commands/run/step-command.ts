import { Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

/** The options `run launch` and `run resume` share. */
export abstract class StepCommand extends BaseCommand {
  node = Option.String('--node', 'root', { description: 'Node to start from: a node id, root, run:<run_id> or branch:<label>' });
  step = Option.String('--step', { description: 'The step: a shell command line (e.g. claude -p "…")' });
  stepFile = Option.String('--step-file', { description: 'A shell script to run as the step' });
  prompt = Option.String('--prompt', { description: 'Prompt text: what --agent is asked to do; also written to the file named by SWARM_PROMPT_FILE' });
  agent = Option.String('--agent', {
    description: "Run an agent CLI as the step: claude, codex or gemini (found on PATH), continuing the parent node's conversation; extra CLI arguments go after --",
  });
  interactive = Option.Boolean('--interactive', false, { description: 'With --agent: run it on a terminal inside the sandbox for you to drive; the node is sealed when you exit' });
  secret = Option.Array('--secret', [], {
    description: 'Grant the stored secret NAME to the step as $NAME, or as $ENVVAR with NAME=ENVVAR (repeatable; names in the policy, values never; see `swarm secret set`)',
  });
  agentArgs = Option.Rest({ name: 'agent-args' });
  runId = Option.String('--run-id', { description: 'Run id (default: generated)' });
  timeout = Option.String('--timeout', { description: 'Kill the step (its whole process group) after this many seconds' });
  allowColdStart = Option.Boolean('--allow-cold-start', false, {
    description: 'If the node cannot be restored, start from an empty workspace and state (recorded as cold_start)',
  });
  allowHost = Option.Array('--allow-host', [], { description: 'Allow egress to this host (host, *.suffix, optional :port); repeatable' });
  routeMode = Option.String('--route-mode', { description: 'Egress route mode: direct or client_exit' });
  policyFile = Option.String('--policy-file', { description: 'JSON policy input: {egress: {allowlist}, route_mode, limits: {timeout_s}}' });
  unsandboxedEgress = Option.Boolean('--unsandboxed-egress', false, {
    description:
      "Give the step the host's network instead of only the broker (recorded in policy and certificate); where bubblewrap works the step is still fenced in every other way, where it does not the step runs with no sandbox at all",
  });
  envGrant = Option.Array('--env', [], { description: 'Give the step NAME=VALUE (repeatable; the name is recorded in the policy, the value never)' });
  passEnv = Option.Array('--pass-env', [], {
    description: "Pass the caller's variable NAME to the step (repeatable; its value is redacted from step.log, only the name is recorded)",
  });
  backend = Option.String('--backend', { description: 'Where the run executes: local, or github (GitHub Actions: dispatch, watch, collect)' });
  repo = Option.String('--repo', { description: 'With --backend github: the repository (owner/name); default github.repo' });
  workflowRef = Option.String('--workflow-ref', { description: 'With --backend github: owner/repo/.github/workflows/<file>@<40-hex> (default: what `swarm github setup` pinned)' });
  ghBin = Option.String('--gh-bin', { description: 'With --backend github: the gh binary (default: SWARM_GH_BIN, else gh on PATH)' });
  keepWorkspace = Option.Boolean('--keep-workspace', false, { description: "Keep the run's unpacked workspace after sealing (its path is printed)" });
  mountPath = Option.String('--mount-path', {
    description:
      "Where the step sees its workspace in the sandbox (default: the parent run's, else the directory the chain was seeded from, else /run/swarm/workspace); recorded in the policy",
  });
  noInheritEgress = Option.Boolean('--no-inherit-egress', false, {
    description: "Start from an empty allowlist and the default route mode instead of the parent run's (--allow-host adds to what is inherited)",
  });
  discardFailed = Option.Boolean('--discard-failed', false, { description: 'Record no node when the step fails' });
  reveal = Option.Boolean('--reveal', false, { description: "Print the new node's raw capability tokens (secret!)" });
  detach = Option.Boolean('--detach', false, {
    description: 'Return at once with the run id; the run goes on under a supervisor process of its own (see `swarm ps`, `run logs --follow`, `run stop`)',
  });
  publish = Option.Array('--publish', [], {
    description: "Reach the step's server on 127.0.0.1:<port> in its sandbox from this machine's 127.0.0.1:<host-port> (<host-port>:<port>, or <port> for a free host port, printed); repeatable; recorded in the policy",
  });
  restart = Option.String('--restart', {
    description: 'Restart policy: no (default), on-failure[:N] or always[:N]; each restart is a new run from the same parent node (<run-id>-r<n>), after 1 s, 2 s, 4 s … (at most 30 s)',
  });

  protected async launch(operation: 'launch' | 'resume', extra: { workspace?: string } = {}): Promise<number> {
    const { resolveBackend } = await import('../../run/options.js');
    const backend = resolveBackend(this.backend, this.env, this.profile);
    if (backend.name === 'github') {
      if (this.publish.length > 0 || this.detach || this.restart !== undefined) {
        const { SwarmError } = await import('@swarm/core');
        throw new SwarmError('INVALID_ARGUMENT', '--publish, --detach and --restart are for local runs (a GitHub run has its own runner)');
      }
      return this.launchOnGithub(operation, { wait: true, workspace: extra.workspace });
    }
    const { runWithSignals } = await import('../../run/signals.js');
    const { describeLaunch } = await import('../../run/describe.js');
    const supervise = await import('../../run/supervise.js');
    const policy = supervise.parseRestartPolicy(this.restart);
    const options = await this.runOptions(extra);
    const { loadEgressProvider } = await import('../../run/options.js');
    const egress = await loadEgressProvider(this.env, this.profile);
    const state = await import('@swarm/state');
    const { SwarmError, clockFromEnv } = await import('@swarm/core');
    const first = options.runId ?? state.newRunId(clockFromEnv(this.env));
    const { isValidName } = await import('@swarm/core');
    if (policy.mode !== 'no' && (!isValidName(first) || !isValidName(supervise.attemptRunId(first, policy.max ?? 9999)))) {
      throw new SwarmError('INVALID_ARGUMENT', `invalid run id ${JSON.stringify(first)} for a restart chain`, { hint: 'letters, digits, . _ - ; short enough for -r<n> to be added (max 128)' });
    }
    if (this.detach && !isValidName(first)) throw new SwarmError('INVALID_ARGUMENT', `invalid run id ${JSON.stringify(first)}`, { hint: 'letters, digits, . _ - (max 128)' });
    if (this.detach) {
      if (this.interactive) throw new SwarmError('INVALID_ARGUMENT', '--detach cannot be combined with --interactive (a detached run has no terminal)');
      const root = state.findProjectRoot(this.cwd);
      if (!root) throw new SwarmError('STORE_NOT_FOUND', 'no swarm store here; run `swarm init` first');
      const argv = supervise.detachedArgv(this.context.argv ?? process.argv.slice(2), options.runId === undefined ? first : undefined);
      const started = async () => {
        const status = await state.runStatus({ cwd: this.cwd, env: this.env, runId: first }).catch(() => null);
        return status !== null && status.state !== 'abandoned';
      };
      const detached = await supervise.detach({ argv, runId: first, storeRoot: state.storePaths(root).root, cwd: this.cwd, env: this.env, started });
      this.output.ok(`run ${first} started (detached)`, { ...detached, detached: true, restart: policy.text }, `run ${first} started (detached, supervisor pid ${detached.pid})\n  follow  swarm run logs --run-id ${first} --follow\n  stop    swarm run stop ${first}`);
      return 0;
    }
    const marked = policy.mode === 'no' ? null : await state.markSupervisor({ cwd: this.cwd, env: this.env, firstRunId: first });
    let result;
    const signals = { stopped: false };
    try {
      for (let attempt = 0; ; attempt += 1) {
        const runId = supervise.attemptRunId(first, attempt);
        if (policy.mode !== 'no') await state.recordRunAttempt({ cwd: this.cwd, env: this.env, runId, firstRunId: first, attempt, policy: policy.text });
        let outcome: 'succeeded' | 'failed' | 'interrupted' | 'error';
        try {
          result = await runWithSignals({ ...options, runId, operation, egress, reveal: this.reveal }, this.output, (o) => backend.launch(o), signals);
          outcome = signals.stopped ? 'interrupted' : 'succeeded';
        } catch (error) {
          // A stop that came after the step's last check still ends the chain.
          outcome = signals.stopped ? 'interrupted' : supervise.outcomeOf(error);
          if (!supervise.restartsAfter(policy, outcome) || (policy.max !== null && attempt >= policy.max)) throw error;
          this.output.info(`swarm: run ${runId} ${outcome}: ${(error as Error).message}`);
        }
        if (!supervise.restartsAfter(policy, outcome) || (policy.max !== null && attempt >= policy.max)) break;
        const wait = supervise.backoffMs(attempt + 1);
        this.output.info(`swarm: restarting as ${supervise.attemptRunId(first, attempt + 1)} in ${wait / 1000} s (restart ${attempt + 1}${policy.max === null ? '' : ` of ${policy.max}`}, policy ${policy.text})`);
        if (await supervise.backoff(wait)) {
          if (result) break;
          throw new SwarmError('STEP_INTERRUPTED', `stopped while waiting to restart run ${first}; no further attempt`, { details: { run_id: runId, first_run_id: first } });
        }
      }
    } finally {
      marked?.done();
    }
    if (!result) throw new SwarmError('INTERNAL', 'no attempt ran');
    if (result.skipped.length > 0) {
      const list = result.skipped.slice(0, 5).map((e) => `${e.path} (${e.reason})`).join(', ');
      this.output.warn(`${result.skipped.length} workspace entr${result.skipped.length === 1 ? 'y was' : 'ies were'} not carried into the node: ${list}${result.skipped.length > 5 ? ', …' : ''}`);
    }
    this.output.ok(`run ${result.run_id} ${result.status}`, result, describeLaunch(result));
    return 0;
  }

  /** On GitHub Actions: dispatch, then (with `wait`) watch with progress and collect. */
  protected async launchOnGithub(operation: 'launch' | 'resume', how: { wait: boolean; workspace?: string }): Promise<number> {
    const { clockFromEnv } = await import('@swarm/core');
    const { resolveRepo } = await import('../../github/context.js');
    const { dispatchRemote, watchRemote, collectRemote } = await import('../../github/remote.js');
    const options = await this.runOptions({ workspace: how.workspace });
    const clock = clockFromEnv(this.env);
    const repo = resolveRepo(this.repo, this.env, this.profile);
    const progress = (line: string) => this.output.progress(line);
    const dispatched = await dispatchRemote({
      launch: { ...options, reveal: this.reveal, keepWorkspace: this.keepWorkspace },
      operation,
      repo,
      workflowRef: this.workflowRef,
      ghBin: this.ghBin,
      env: this.env,
      clock,
      onProgress: progress,
    });
    this.output.progressDone();
    if (!how.wait) {
      this.output.ok(`dispatched ${dispatched.request_id} as run ${dispatched.remote_run_id}`, dispatched, `dispatched run ${dispatched.run_id}\n  request    ${dispatched.request_id}\n  remote run ${dispatched.html_url}`);
      return 0;
    }
    this.output.info(`swarm: run ${dispatched.run_id} dispatched to ${repo} (${dispatched.html_url})`);
    await watchRemote({ cwd: this.cwd, id: dispatched.request_id, env: this.env, clock, ghBin: this.ghBin, timeoutMs: (options.timeoutS ?? 3600) * 1000 + 15 * 60_000, onProgress: progress });
    const collected = await collectRemote({ cwd: this.cwd, id: dispatched.request_id, env: this.env, clock, ghBin: this.ghBin, onProgress: progress });
    this.output.progressDone();
    const { SwarmError } = await import('@swarm/core');
    if (collected.status !== 'succeeded') {
      throw new SwarmError('STEP_FAILED', `the remote step failed; failed node ${collected.node_id} recorded`, { details: collected, hint: `inspect it with \`swarm state inspect --node ${collected.node_id}\`` });
    }
    this.output.ok(`run ${collected.run_id} succeeded on GitHub Actions`, collected, `run ${collected.run_id} succeeded on GitHub Actions\n  node       ${collected.node_id}\n  remote run ${collected.remote_run_id}`);
    return 0;
  }

  private async runOptions(extra: { workspace?: string }) {
    const { resolveRunOptions } = await import('../../run/options.js');
    return resolveRunOptions(
      {
        node: this.node,
        step: this.step,
        stepFile: this.stepFile,
        prompt: this.prompt,
        agent: this.agent,
        agentArgs: this.agentArgs,
        interactive: this.interactive,
        quiet: this.quiet,
        secrets: this.secret,
        runId: this.runId,
        timeout: this.timeout,
        allowColdStart: this.allowColdStart,
        workspace: extra.workspace,
        allowHost: this.allowHost,
        routeMode: this.routeMode,
        policyFile: this.policyFile,
        unsandboxedEgress: this.unsandboxedEgress,
        env: this.envGrant,
        passEnv: this.passEnv,
        keepWorkspace: this.keepWorkspace,
        noInheritEgress: this.noInheritEgress,
        mountPath: this.mountPath,
        publish: this.publish,
        discardFailed: this.discardFailed,
        profile: this.profile,
      },
      this.env,
      this.cwd,
    );
  }
}

