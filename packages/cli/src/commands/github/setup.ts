import { Command, Option } from 'clipanion';
import { clockFromEnv } from '@swarm/core';
import { BaseCommand } from '../../base-command.js';

export class GithubSetupCommand extends BaseCommand {
  static override paths = [['github', 'setup']];

  static override usage = Command.Usage({
    category: 'GitHub',
    description: 'Make a GitHub repository run swarm steps on Actions',
    details: `
      Generates the runner's keys on this machine (Ed25519 to sign certificates, X25519 to open
      the capabilities sent to it) and stores them only as the environment secret
      \`SWARM_RUNNER_KEY\` of the environment \`swarm\`, which releases it to jobs of
      \`swarm-pin-*\` tags alone (\`gh secret set\`, the value on stdin). Trusts the runner's public
      key here, commits the worker workflow \`.github/workflows/swarm-run.yml\` to the default
      branch (running \`--action\`, a pinned swarm release), and creates the tag
      \`swarm-pin-<commit>\` that runs are dispatched to. Prints the pinned workflow ref. Running it
      again keeps what is right; \`--rotate\` replaces the runner's keys.
    `,
    examples: [
      ['Set up a repository', '$0 github setup --repo acme/agents --action acme/swarm@0123456789abcdef0123456789abcdef01234567'],
      ['Replace the runner keys', '$0 github setup --repo acme/agents --rotate'],
    ],
  });

  repo = Option.String('--repo', { description: 'The repository (owner/name); default: github.repo' });
  action = Option.String('--action', { description: 'The swarm action to run, pinned: owner/repo@<40-hex commit>; default: github.action' });
  environment = Option.String('--environment', { description: 'The GitHub environment that holds the runner key (default swarm)' });
  rotate = Option.Boolean('--rotate', false, { description: "Replace the runner's keys (old certificates stay verifiable)" });
  oidc = Option.Boolean('--oidc', true, {
    description: "Require each remote certificate to come with the job's OIDC token, whose audience is the certificate's digest (--no-oidc: the runner key alone vouches)",
  });
  ghBin = Option.String('--gh-bin', { description: 'The gh binary (default: SWARM_GH_BIN, else gh on PATH)' });

  async run(): Promise<number> {
    const { resolveRepo, configuredAction } = await import('../../github/context.js');
    const { githubSetup } = await import('../../github/setup.js');
    const repo = resolveRepo(this.repo, this.env, this.profile);
    const result = await githubSetup({
      repo,
      action: configuredAction(this.action, this.env, this.profile),
      environment: this.environment,
      rotate: this.rotate,
      oidc: this.oidc,
      env: this.env,
      ghBin: this.ghBin,
      clock: clockFromEnv(this.env),
      onProgress: (line) => this.output.progress(line),
    });
    this.output.progressDone();
    if (result.tag_protection !== 'ruleset') {
      this.output.warn(`pin tags are not protected by a ruleset here (${result.tag_protection}): anyone who can push a swarm-pin-* tag can have the runner key; protect the tags in the repository settings`);
    }
    this.output.ok(`${repo} is set up; workflow ref ${result.workflow_ref}`, result, `${repo} runs swarm steps\n  workflow ref  ${result.workflow_ref}\n  runner key    ${result.runner_key_id} (${result.keys}, trusted here)\n  workflow      ${result.workflow}, tag ${result.tag}`);
    return 0;
  }
}
