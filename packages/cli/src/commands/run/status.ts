import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class RunStatusCommand extends BaseCommand {
  static override paths = [['run', 'status']];

  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Show the status of a run',
    details:
      'Shows whether the run is running, committed or abandoned (left by a crash; `swarm gc` removes it), with its node and exit status. A run dispatched to GitHub Actions and not collected yet shows its ledger entry (pending, dispatched, running, completed, failed or cancelled) and its remote run.',
    examples: [['Status of a run', '$0 run status --run-id first']],
  });

  runId = Option.String('--run-id', { required: true, description: 'The run id' });

  async run(): Promise<number> {
    const { runStatus, Store } = await import('@swarm/state');
    const { isSwarmError } = await import('@swarm/core');
    let s;
    try {
      s = await runStatus({ cwd: this.cwd, runId: this.runId, env: this.env });
    } catch (error) {
      if (!isSwarmError(error) || error.code !== 'RUN_NOT_FOUND') throw error;
      // Not a run of this store (yet): perhaps one dispatched to a remote backend.
      const { ledgerEntry } = await import('../../github/remote.js');
      const store = Store.open(this.cwd, { create: false, env: this.env });
      let entry;
      try {
        entry = ledgerEntry(store, this.runId);
      } catch {
        throw error;
      } finally {
        store.close();
      }
      const remote = entry.remote_run_id !== null ? `remote run ${entry.remote_run_id}${entry.remote ? ` (${entry.remote.status}${entry.remote.conclusion ? `, ${entry.remote.conclusion}` : ''}) ${entry.remote.html_url}` : ''}` : 'no remote run known yet';
      const last = entry.errors.at(-1);
      const human = [`run ${entry.run_id}: ${entry.status} on ${entry.backend} (${entry.repo}), request ${entry.request_id}`, remote, last ? `last error ${last.code}: ${last.message}` : ''].filter(Boolean);
      this.output.ok(`run ${entry.run_id} ${entry.status} on ${entry.backend}`, { run_id: entry.run_id, status: entry.status, backend: entry.backend, ledger: entry }, human.join('\n'));
      return 0;
    }
    const human = [
      `run ${s.run_id}: ${s.status} (${s.state})`,
      s.node_id ? `node ${s.node_id} ← ${s.parent_node_id}, restore ${s.restore_mode}, exit ${s.exit_code ?? s.signal}` : '',
      s.artifact_hash ? `certificate ${s.artifact_hash}` : '',
    ].filter(Boolean);
    this.output.ok(`run ${s.run_id} ${s.status}`, s, human.join('\n'));
    return 0;
  }
}
