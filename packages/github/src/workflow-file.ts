/**
 * The worker workflow (`.github/workflows/swarm-run.yml`) and the composite action (`action.yml`
 * at the root of swarm's repository). `swarm github setup` installs the workflow into a user's
 * repository with the action pinned to a commit of swarm; swarm's own repository carries the
 * variant that runs the action from its checkout. Inputs reach scripts only through `env:`;
 * actions are pinned by commit; permissions are read-only.
 */

export const WORKFLOW_FILE = 'swarm-run.yml';
export const WORKFLOW_PATH = `.github/workflows/${WORKFLOW_FILE}`;
export const DEFAULT_ENVIRONMENT = 'swarm';
export const RUNNER_KEY_SECRET = 'SWARM_RUNNER_KEY';
export const PIN_TAG_PREFIX = 'swarm-pin-';

/** Third-party actions the worker uses, each pinned to the commit of a release. */
export const PINNED_ACTIONS = {
  checkout: 'actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683', // v4.2.2
  setupNode: 'actions/setup-node@49933ea5288caeca8642d1e84afbd3f7d6820020', // v4.4.0
  uploadArtifact: 'actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02', // v4.6.2
} as const;

/** The artifact of one request: named after it in exactly one place. */
export function artifactName(requestId: string): string {
  return `swarm-${requestId}`;
}

export interface WorkflowOptions {
  /** `owner/repo@<40 hex>` of the swarm release whose action.yml runs the worker, or `./` in swarm's own repository. */
  action: string;
  environment?: string;
  /** Grant the job OIDC tokens (`id-token: write`) to bind certificates to it (default true). */
  oidc?: boolean;
}

export function workerWorkflow(options: WorkflowOptions): string {
  const environment = options.environment ?? DEFAULT_ENVIRONMENT;
  const local = options.action === './';
  const actionSteps = local
    ? [
        `      - uses: ${PINNED_ACTIONS.checkout} # v4.2.2`,
        '        with:',
        '          persist-credentials: false',
        '      - uses: ./',
      ]
    : [`      - uses: ${options.action}`];
  return [
    '# swarm worker: runs one swarm step on GitHub Actions and uploads its sealed result.',
    '# Installed by `swarm github setup`; dispatched by `swarm run resume --backend github`.',
    'name: swarm worker',
    'run-name: swarm ${{ inputs.request_id }}',
    'on:',
    '  workflow_dispatch:',
    '    inputs:',
    '      request_id:',
    '        description: swarm request id',
    '        type: string',
    '        required: true',
    '      envelope:',
    '        description: signed dispatch envelope (capabilities sealed to the runner key)',
    '        type: string',
    '        required: true',
    'permissions:',
    '  contents: read',
    '  actions: read',
    // An OIDC token whose audience is the certificate's digest binds it to this job.
    ...(options.oidc === false ? [] : ['  id-token: write']),
    'concurrency:',
    '  group: swarm-${{ inputs.request_id }}',
    '  cancel-in-progress: false',
    'jobs:',
    '  run:',
    '    runs-on: ubuntu-24.04',
    '    timeout-minutes: 60',
    `    environment: ${environment}`,
    '    steps:',
    '      - name: check request',
    '        env:',
    '          REQUEST_ID: ${{ inputs.request_id }}',
    '          SHA: ${{ github.sha }}',
    '          WORKFLOW_SHA: ${{ github.workflow_sha }}',
    '        run: |',
    '          [[ "$REQUEST_ID" =~ ^[a-z0-9][a-z0-9-]{0,62}$ ]] || { echo "::error::REQUEST_ID_INVALID"; exit 2; }',
    '          [ "$SHA" = "$WORKFLOW_SHA" ] || { echo "::error::WORKFLOW_REF_MISMATCH"; exit 3; }',
    ...actionSteps,
    '        id: worker',
    '        with:',
    '          request-id: ${{ inputs.request_id }}',
    '          envelope: ${{ inputs.envelope }}',
    `          runner-key: \${{ secrets.${RUNNER_KEY_SECRET} }}`,
    `      - uses: ${PINNED_ACTIONS.uploadArtifact} # v4.6.2`,
    '        if: always()',
    '        with:',
    '          name: swarm-${{ inputs.request_id }}',
    '          path: ${{ runner.temp }}/swarm-out/',
    '          if-no-files-found: error',
    '          retention-days: 7',
    '          overwrite: false',
    '',
  ].join('\n');
}

/** The composite action at the root of swarm's repository. */
export function workerAction(): string {
  return [
    'name: swarm worker',
    'description: Run one swarm step inside a GitHub Actions job and seal its result for the operator',
    'inputs:',
    '  request-id:',
    '    description: swarm request id (the run name carries it)',
    '    required: true',
    '  envelope:',
    '    description: the signed dispatch envelope',
    '    required: true',
    '  runner-key:',
    '    description: the runner key (pass secrets.SWARM_RUNNER_KEY)',
    '    required: true',
    'outputs:',
    '  certificate-sha256:',
    '    description: sha256 of the certificate the worker signed',
    '    value: ${{ steps.run.outputs.certificate-sha256 }}',
    'runs:',
    '  using: composite',
    '  steps:',
    `    - uses: ${PINNED_ACTIONS.setupNode} # v4.4.0`,
    '      with:',
    '        node-version: 20',
    '    - name: install swarm',
    '      shell: bash',
    '      run: |',
    '        [ -d "$GITHUB_ACTION_PATH/node_modules" ] || npm ci --no-audit --no-fund --prefix "$GITHUB_ACTION_PATH"',
    '        command -v bwrap >/dev/null || { sudo apt-get update -qq && sudo apt-get install -y -qq bubblewrap; }',
    '        # ubuntu-24.04 blocks unprivileged user namespaces, which the step sandbox needs.',
    '        if [ -e /proc/sys/kernel/apparmor_restrict_unprivileged_userns ]; then sudo sysctl -qw kernel.apparmor_restrict_unprivileged_userns=0; fi',
    '    - id: run',
    '      name: run the step',
    '      shell: bash',
    '      env:',
    '        SWARM_REQUEST_ID: ${{ inputs.request-id }}',
    '        SWARM_ENVELOPE: ${{ inputs.envelope }}',
    '        SWARM_RUNNER_KEY: ${{ inputs.runner-key }}',
    '        SWARM_OUT: ${{ runner.temp }}/swarm-out',
    '        GITHUB_TOKEN: ${{ github.token }}',
    '      run: node "$GITHUB_ACTION_PATH/packages/cli/bin/swarm.js" worker run --out "$SWARM_OUT"',
    '',
  ].join('\n');
}
