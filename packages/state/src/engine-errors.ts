/** Error codes of the node store and the run engine (the bundle codes live in errors.ts). */
import { registerErrorCodes, type ErrorCodeInfo } from '@swarm/core';

export const ENGINE_ERROR_CODES = {
  STORE_NOT_FOUND: { category: 'input', description: 'No `.swarm/` project store here or in any parent directory (run `swarm init`).' },
  STORE_BUSY: { category: 'internal', description: 'Another swarm process held the catalog lock for too long; retry.', retryable: true },
  STORE_CONFLICT: { category: 'input', description: 'A node, run or branch with the same id was created concurrently.' },
  STORE_CORRUPT: { category: 'internal', description: 'The catalog cannot be opened or is inconsistent.' },
  NODE_NOT_FOUND: { category: 'input', description: 'The node reference does not name a node in this store.' },
  RUN_NOT_FOUND: { category: 'input', description: 'No run with this id exists in this store.' },
  RUN_ID_EXISTS: { category: 'input', description: 'A run with this id already exists; run ids are unique.' },
  BRANCH_EXISTS: { category: 'input', description: 'The branch label already names a node.' },
  STEP_MISSING: { category: 'input', description: 'No step was given (`--step` or `--step-file`).' },
  STEP_START_FAILED: { category: 'input', description: 'The step command could not be started (not found or not executable).' },
  STEP_FAILED: {
    category: 'step',
    description: "The step exited non-zero or was killed; a failed node was recorded for inspection. The step's own `exit_code` and `signal` are in `error.details`.",
  },
  STEP_TIMEOUT: { category: 'step', description: 'The step ran past --timeout and its process group was killed; a failed node was recorded.' },
  STEP_INTERRUPTED: {
    category: 'interrupted',
    description: 'The run was interrupted (Ctrl-C / SIGTERM); the step was stopped, and a failed node recorded if the run got that far.',
  },
  REMOTE_NODE_MISMATCH: {
    category: 'verification',
    description: "A collected remote node does not fit its parent: its bundle does not open under the capability the parent ratchets to, or the worker's next capabilities differ.",
  },
  RESTORE_FAILED: {
    category: 'restore',
    description: 'The node could not be restored (missing object, wrong key, bad format) and --allow-cold-start was not given.',
  },
  AGENT_UNKNOWN: { category: 'input', description: 'The --agent value is not an agent swarm knows (claude, codex, gemini).' },
  AGENT_NOT_FOUND: { category: 'input', description: "The agent's CLI is not on the caller's PATH (install it from npm, or put its directory on PATH)." },
  AGENT_OPTIONS_INVALID: {
    category: 'input',
    description: 'An agent run was asked for without --prompt, together with --step or --step-file, or --interactive without a terminal.',
  },
  SESSION_NOT_FOUND: { category: 'input', description: 'No node of this store (or of the one named) holds an agent session with this id.' },
  MOUNT_PATH_INVALID: {
    category: 'input',
    description: 'The workspace mount path (--mount-path, or the chain\'s) is not an absolute path bwrap can mount on here, or lies where the step may not look.',
  },
  PARENT_POLICY_INVALID: {
    category: 'input',
    description: "A resumed run cannot inherit its parent run's egress: the parent's policy.json is missing, malformed or not the policy its certificate binds.",
  },
  WORKSPACE_SEED_INVALID: { category: 'input', description: '--workspace must name an existing directory, and is only allowed on a launch from root.' },
  STATE_DB_INVALID: { category: 'input', description: 'The state DB is not a SQLite database swarm can open.' },
  EXPORT_TARGET_EXISTS: { category: 'input', description: 'The export directory exists and is not empty.' },
  RUN_LIVE: { category: 'input', description: 'The run to remove, or one that may build on what would be removed, is still in progress; wait for it or `swarm run cancel` it.' },
  RUN_HAS_DESCENDANTS: {
    category: 'input',
    description: 'Other nodes (later runs, forks) or branch labels descend from the run to remove; remove them too, or pass --force to remove the whole subtree.',
  },
  STORE_CHUNK_MISSING: { category: 'restore', description: 'A chunk a node refers to is not in the store (its pack was removed or never written).' },
  STORE_CHUNK_CORRUPT: { category: 'restore', description: 'A stored chunk does not authenticate under this installation\'s chunk key or does not hash to its id.' },
  NODE_INDEX_INVALID: { category: 'restore', description: "A node's sealed index does not open under its data key or is not a well-formed index." },
  STORE_CHUNKS_COLLECTED: {
    category: 'internal',
    description: 'gc removed chunks a run was about to commit while it ran; nothing was committed. Run the step again.',
    retryable: true,
  },
  BUNDLE_TARGET_EXISTS: { category: 'input', description: 'The file `state bundle --out` names already exists.' },
  BRANCH_NOT_FOUND: { category: 'input', description: 'No branch with this label exists in this store.' },
} satisfies Record<string, ErrorCodeInfo>;

registerErrorCodes('state', ENGINE_ERROR_CODES);
