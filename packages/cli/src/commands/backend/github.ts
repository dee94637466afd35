import { Command, Option } from 'clipanion';
import { SwarmError, clockFromEnv } from '@swarm/core';
import { BaseCommand } from '../../base-command.js';
import { StepCommand } from '../run/step-command.js';

const RUN_ID = { description: 'The run: its swarm run id or its request id' };

/** `--timeout` of watch and collect: seconds, default 60 minutes. */
function deadlineMs(value: string | undefined): number {
  if (value === undefined) return 60 * 60_000;
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !(n > 0 && n <= 6 * 3600)) throw new SwarmError('INVALID_ARGUMENT', '--timeout must be between 1 and 21600 seconds');
  return n * 1000;
}

export class BackendDispatchCommand extends StepCommand {
  static override paths = [['backend', 'github', 'dispatch']];

  static override usage = Command.Usage({
    category: 'GitHub',
    description: 'Dispatch a step to GitHub Actions and return once its run is known',
    details: `
      Like \`run resume --backend github\` without waiting: the ledger entry is written first, the
      parent's sealed bundle goes to the repository, one signed envelope is dispatched, and the
      run is found by its request id. \`watch\` and \`collect\` take it from there.
    `,
    examples: [['Dispatch from a node', '$0 backend github dispatch --node run:first --step "make test" --repo acme/agents']],
  });

  async run(): Promise<number> {
    return this.launchOnGithub(this.node === 'root' ? 'launch' : 'resume', { wait: false });
  }
}

export class BackendWatchCommand extends BaseCommand {
  static override paths = [['backend', 'github', 'watch']];

  static override usage = Command.Usage({
    category: 'GitHub',
    description: 'Wait for a dispatched run to complete, showing its progress',
    details: 'Polls the remote run (backing off to 10 s) until it completes or `--timeout` passes (GH_WATCH_TIMEOUT, exit 4; the ledger still says running).',
    examples: [['Watch a run', '$0 backend github watch --run-id r-20261202-0001']],
  });

  runId = Option.String('--run-id', { required: true, ...RUN_ID });
  timeout = Option.String('--timeout', { description: 'Give up after this many seconds (default 3600)' });
  ghBin = Option.String('--gh-bin', { description: 'The gh binary (default: SWARM_GH_BIN, else gh on PATH)' });

  async run(): Promise<number> {
    const { watchRemote } = await import('../../github/remote.js');
    const { entry, run } = await watchRemote({
      cwd: this.cwd,
      id: this.runId,
      env: this.env,
      clock: clockFromEnv(this.env),
      ghBin: this.ghBin,
      timeoutMs: deadlineMs(this.timeout),
      onProgress: (line) => this.output.progress(line),
    });
    this.output.progressDone();
    this.output.ok(`run of ${entry.request_id} completed: ${run.conclusion}`, { request_id: entry.request_id, run_id: entry.run_id, remote_run_id: run.id, conclusion: run.conclusion, html_url: run.html_url, ledger: entry.status });
    return 0;
  }
}

export class BackendCollectCommand extends BaseCommand {
  static override paths = [['backend', 'github', 'collect']];

  static override usage = Command.Usage({
    category: 'GitHub',
    description: "Verify a completed remote run's artifact and import its node",
    details: `
      Lists the run's artifacts through the API, downloads the one of this request by id, checks
      its sha256 against GitHub's digest, unzips it with a strict reader, checks its manifest,
      validates every contract file, checks the run's identity, verifies the certificate (hash,
      pin, policy, the runner's signature), enforces the restore policy, and only then imports
      the node, its run and the ledger entry in one transaction. Any failure leaves the DAG as it
      was. A step that failed remotely is imported as a failed node (exit 7), like a local one.
    `,
    examples: [['Collect a run', '$0 backend github collect --run-id r-20261202-0001']],
  });

  runId = Option.String('--run-id', { required: true, ...RUN_ID });
  wait = Option.Boolean('--wait', false, { description: 'Watch the run until it completes first' });
  timeout = Option.String('--timeout', { description: 'With --wait: give up after this many seconds (default 3600)' });
  keepStaging = Option.Boolean('--keep-staging', false, { description: 'Keep the downloaded artifact in .swarm/tmp for inspection' });
  ghBin = Option.String('--gh-bin', { description: 'The gh binary (default: SWARM_GH_BIN, else gh on PATH)' });

  async run(): Promise<number> {
    const { collectRemote, watchRemote } = await import('../../github/remote.js');
    const clock = clockFromEnv(this.env);
    if (this.wait) {
      await watchRemote({ cwd: this.cwd, id: this.runId, env: this.env, clock, ghBin: this.ghBin, timeoutMs: deadlineMs(this.timeout), onProgress: (l) => this.output.progress(l) });
    }
    const collected = await collectRemote({ cwd: this.cwd, id: this.runId, env: this.env, clock, ghBin: this.ghBin, keepStaging: this.keepStaging, onProgress: (l) => this.output.progress(l) });
    this.output.progressDone();
    if (collected.status !== 'succeeded') {
      throw new SwarmError('STEP_FAILED', `the remote step failed; failed node ${collected.node_id} recorded`, { details: collected, hint: `inspect it with \`swarm state inspect --node ${collected.node_id}\`` });
    }
    this.output.ok(`collected ${collected.node_id} from run ${collected.remote_run_id}`, collected);
    return 0;
  }
}

export class BackendCancelCommand extends BaseCommand {
  static override paths = [['backend', 'github', 'cancel']];

  static override usage = Command.Usage({
    category: 'GitHub',
    description: 'Cancel a remote run, on GitHub and in the ledger',
    details: 'A run that already completed cannot be cancelled (GitHub answers 409); the ledger then shows how it ended.',
    examples: [['Cancel a run', '$0 backend github cancel --run-id r-20261202-0001']],
  });

  runId = Option.String('--run-id', { required: true, ...RUN_ID });
  ghBin = Option.String('--gh-bin', { description: 'The gh binary (default: SWARM_GH_BIN, else gh on PATH)' });

  async run(): Promise<number> {
    const { cancelRemote } = await import('../../github/remote.js');
    const result = await cancelRemote({ cwd: this.cwd, id: this.runId, env: this.env, clock: clockFromEnv(this.env), ghBin: this.ghBin });
    this.output.ok(result.accepted ? `cancelled ${result.request_id}` : `${result.request_id} had already completed (${String(result.conclusion)})`, result);
    return 0;
  }
}
