import fs from 'node:fs';
import { configPath, emptyConfig, loadConfig, loadOrCreateRootSecret, generateSigningKey, swarmHome, writeConfig } from '@swarm/core';

export interface InitResult {
  home: string;
  config: string;
  createdConfig: boolean;
  keyId: string;
  publicKey: string;
  createdSigningKey: boolean;
  store: string | null;
  createdStore: boolean;
  /** In a git repository: the (clone-local) exclude file that keeps `.swarm/` out of git. */
  gitExclude: string | null;
}

export async function initSwarm(options: { env: NodeJS.ProcessEnv; cwd: string }): Promise<InitResult> {
  const home = swarmHome(options.env);
  const file = configPath(options.env);
  let createdConfig = false;
  if (fs.existsSync(file)) {
    loadConfig(file); // a malformed file is reported, never replaced
  } else {
    writeConfig(emptyConfig(), file);
    createdConfig = true;
  }
  loadOrCreateRootSecret(home);
  const { key, created } = generateSigningKey(home);
  const { initStore } = await import('@swarm/state');
  const store = await initStore(options.cwd, { env: options.env, home });
  return {
    home,
    config: file,
    createdConfig,
    keyId: key.keyId,
    publicKey: key.publicKey,
    createdSigningKey: created,
    store: store?.path ?? null,
    createdStore: store?.created ?? false,
    gitExclude: store?.git_excluded ?? null,
  };
}
