import { Command, Option } from 'clipanion';
import { SwarmError } from '@swarm/core';
import { BaseCommand } from '../base-command.js';

export class DoctorCommand extends BaseCommand {
  static override paths = [['doctor']];

  static override usage = Command.Usage({
    category: 'Setup',
    description: 'Check that this machine can run swarm',
    details: `
      Runs named checks — Node.js version, the native SQLite module, swarm home and config, git,
      the GitHub CLI and its login, and the step sandbox layer by layer (bubblewrap; user, PID, mount and network namespaces; hidden paths; the broker bridge) and the core-size limit — and prints each as ok,
      warn or fail with a hint. With \`--repo\` (or \`github.repo\` configured) it checks the github
      backend instead of the bare gh line: gh and its version, its login (by exit code only),
      the token's scopes, the setup record, the workflow registered and present at the pin, the pin
      tag, the environment holding the runner key, and the runner key trusted here. Exits 4 when a
      required check fails (the github checks are required with \`--repo\`), 0 otherwise.
    `,
    examples: [
      ['Check this machine', '$0 doctor'],
      ['Machine-readable report', '$0 doctor --json'],
      ['Check a repository set up for remote runs', '$0 doctor --repo acme/agents'],
    ],
  });

  repo = Option.String('--repo', { description: 'Also check the github backend for this repository (owner/name); default github.repo' });

  async run(): Promise<number> {
    const { runDoctor } = await import('../doctor/checks.js');
    const { configPath, loadConfig, resolveProfile } = await import('@swarm/core');
    const configured = resolveProfile(loadConfig(configPath(this.env)), this.profile).settings['github.repo'] as string | undefined;
    const report = await runDoctor({ env: this.env, cwd: this.cwd, repo: this.repo ?? configured, repoRequired: this.repo !== undefined });
    const marks = { ok: this.output.paint('ok  ', 32), warn: this.output.paint('warn', 33), fail: this.output.paint('fail', 31) };
    const lines = report.checks.map((c) => {
      const head = `${marks[c.status]} ${c.name.padEnd(15)} ${c.detail}`;
      return c.status !== 'ok' && c.hint ? `${head}\n       hint: ${c.hint}` : head;
    });
    const failed = report.checks.filter((c) => c.status === 'fail' && c.required);
    if (failed.length > 0) {
      if (!this.json) this.output.options.stdout.write(`${lines.join('\n')}\n`);
      throw new SwarmError('DOCTOR_CHECK_FAILED', `required check(s) failed: ${failed.map((c) => c.name).join(', ')}`, {
        details: report,
      });
    }
    const warnings = report.checks.filter((c) => c.status !== 'ok').length;
    this.output.ok(warnings === 0 ? 'all checks passed' : `all required checks passed (${warnings} warning(s))`, report, lines.join('\n'));
    return 0;
  }
}
