import fs from 'node:fs';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codeOf, makeTempDir } from '@swarm/test-utils';
import {
  CONFIG_KEYS,
  MAX_CONFIG_BYTES,
  configPath,
  emptyConfig,
  loadConfig,
  parseConfigValue,
  resolveProfile,
  setConfigValue,
  swarmHome,
  writeConfig,
  type ConfigValue,
} from './config.js';

let tmp: ReturnType<typeof makeTempDir>;
let file: string;
beforeEach(() => {
  tmp = makeTempDir();
  file = path.join(tmp.dir, 'home', 'config.json');
});
afterEach(() => tmp.cleanup());

/** For every key: raw values that must parse (with the parsed value) and raw values that must not. */
const SAMPLES: Record<string, { good: Array<[string, ConfigValue]>; bad: string[] }> = {
  backend: { good: [['local', 'local'], ['github', 'github']], bad: ['gitlab-ish', '', 'LOCAL'] },
  'run.timeout_s': { good: [['600', 600], ['1.5', 1.5]], bad: ['0', '-5', 'ten', '1e3', ''] },
  'run.allow_cold_start': { good: [['true', true], ['false', false]], bad: ['yes', '1', 'TRUE'] },
  'proxy.route_mode': { good: [['direct', 'direct'], ['client_exit', 'client_exit']], bad: ['proxy', ''] },
  'egress.sandbox': { good: [['auto', 'auto'], ['require', 'require'], ['off', 'off']], bad: ['none', 'netns', ''] },
  'egress.allow': {
    good: [
      ['api.anthropic.com', ['api.anthropic.com']],
      ['a.example, *.b.example:443', ['a.example', '*.b.example:443']],
      ['', []],
    ],
    bad: ['https://a.example/', 'a b', 'a.example:99999999'],
  },
  'egress.upstream_proxy': {
    good: [
      ['http://proxy.corp:3128', 'http://proxy.corp:3128'],
      ['http://ops:pw@10.0.0.1:8080', 'http://ops:pw@10.0.0.1:8080'],
    ],
    bad: ['https://proxy.corp:3128', 'socks5://p:1080', 'http://proxy.corp:3128/path', 'proxy.corp:3128', ''],
  },
  'github.repo': { good: [['acme/agents', 'acme/agents']], bad: ['acme', 'acme/agents/x', 'a b/c'] },
  'github.action': { good: [[`acme/swarm@${'a'.repeat(40)}`, `acme/swarm@${'a'.repeat(40)}`]], bad: ['acme/swarm@main', `acme/swarm@${'A'.repeat(40)}`, `acme@${'a'.repeat(40)}`] },
  'github.workflow': { good: [['swarm-worker.yml', 'swarm-worker.yml'], ['w.yaml', 'w.yaml']], bad: ['worker', 'dir/w.yml', 'w.json'] },
  'output.color': { good: [['auto', 'auto'], ['never', 'never']], bad: ['sometimes'] },
};

function listDir(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

describe('config file', () => {
  it('a missing file is the empty config', () => {
    expect(loadConfig(file)).toEqual({ version: 1, default_profile: 'default', profiles: { default: {} } });
    expect(loadConfig(file)).toEqual(emptyConfig());
    expect(fs.existsSync(file)).toBe(false);
  });

  it('lives in $SWARM_HOME, else ~/.swarm', () => {
    expect(swarmHome({ SWARM_HOME: tmp.dir })).toBe(tmp.dir);
    expect(configPath({ SWARM_HOME: tmp.dir })).toBe(path.join(tmp.dir, 'config.json'));
    expect(swarmHome({})).toBe(path.join(os.homedir(), '.swarm'));
    expect(swarmHome({ SWARM_HOME: '  ' })).toBe(path.join(os.homedir(), '.swarm'));
  });

  it.each([
    ['not JSON', '{ "version": 1, '],
    ['not an object', '[]'],
    ['a wrong version', JSON.stringify({ version: 2, default_profile: 'default', profiles: {} })],
    ['an unknown top-level field', JSON.stringify({ ...emptyConfig(), extra: true })],
    ['an unknown key in a profile', JSON.stringify({ ...emptyConfig(), profiles: { default: { colour: 'blue' } } })],
    ['an invalid value in a profile', JSON.stringify({ ...emptyConfig(), profiles: { ci: { backend: 'mainframe' } } })],
    ['a profile that is not an object', JSON.stringify({ ...emptyConfig(), profiles: { default: 'x' } })],
    ['a blank default profile', JSON.stringify({ ...emptyConfig(), default_profile: ' ' })],
  ])('a file with %s is CONFIG_INVALID, and setting a key leaves it byte-identical', (_label, text) => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    const before = fs.readFileSync(file);
    expect(codeOf(() => loadConfig(file))).toBe('CONFIG_INVALID');
    expect(codeOf(() => setConfigValue('backend', 'local', { file }))).toBe('CONFIG_INVALID');
    expect(fs.readFileSync(file)).toEqual(before);
    expect(listDir(path.dirname(file))).toEqual(['config.json']);
  });

  it('every key swarm knows has samples in this test', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual(Object.keys(CONFIG_KEYS).sort());
  });

  it.each(Object.entries(SAMPLES))('parses good values of %s and refuses bad ones', (key, { good, bad }) => {
    for (const [raw, value] of good) {
      expect(parseConfigValue(key, raw)).toEqual(value);
      expect(CONFIG_KEYS[key]!.check(value)).toBe(true);
    }
    for (const raw of bad) expect(codeOf(() => parseConfigValue(key, raw)), `${key}=${raw}`).toBe('CONFIG_VALUE_INVALID');
  });

  it('refuses unknown keys', () => {
    expect(codeOf(() => parseConfigValue('colour', 'blue'))).toBe('CONFIG_KEY_UNKNOWN');
    expect(codeOf(() => setConfigValue('colour', 'blue', { file }))).toBe('CONFIG_KEY_UNKNOWN');
    expect(fs.existsSync(file)).toBe(false);
  });

  it('sets values into profiles, writing a 0600 file that loads back', () => {
    setConfigValue('backend', 'github', { file });
    setConfigValue('run.timeout_s', '90', { file });
    setConfigValue('backend', 'local', { file, profile: 'ci' });
    const config = loadConfig(file);
    expect(config.profiles).toEqual({ default: { backend: 'github', 'run.timeout_s': 90 }, ci: { backend: 'local' } });
    expect(resolveProfile(config).settings).toEqual({ backend: 'github', 'run.timeout_s': 90 });
    expect(resolveProfile(config, 'ci')).toEqual({ name: 'ci', settings: { backend: 'local' } });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(file, 'utf8').endsWith('\n')).toBe(true);
    expect(listDir(path.dirname(file))).toEqual(['config.json']);
  });

  it('an invalid value leaves an existing file unchanged', () => {
    setConfigValue('backend', 'github', { file });
    const before = fs.readFileSync(file);
    expect(codeOf(() => setConfigValue('run.timeout_s', '0', { file }))).toBe('CONFIG_VALUE_INVALID');
    expect(fs.readFileSync(file)).toEqual(before);
  });

  it('sets into the file\'s default profile when none is named', () => {
    writeConfig({ version: 1, default_profile: 'work', profiles: { work: {} } }, file);
    const result = setConfigValue('output.color', 'never', { file });
    expect(result.profile).toBe('work');
    expect(loadConfig(file).profiles.work).toEqual({ 'output.color': 'never' });
    expect(resolveProfile(loadConfig(file))).toEqual({ name: 'work', settings: { 'output.color': 'never' } });
  });

  it('a profile that does not exist is PROFILE_UNKNOWN', () => {
    expect(codeOf(() => resolveProfile(emptyConfig(), 'nope'))).toBe('PROFILE_UNKNOWN');
    const noDefault = { version: 1, default_profile: 'work', profiles: {} };
    expect(codeOf(() => resolveProfile(noDefault))).toBe('PROFILE_UNKNOWN');
    expect(resolveProfile({ version: 1, default_profile: 'default', profiles: {} })).toEqual({ name: 'default', settings: {} });
  });

  describe('keys and profiles that are also Object property names', () => {
    const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'prototype'];

    it('the probe names are real properties of a plain object (positive control)', () => {
      const plain: Record<string, unknown> = {};
      for (const name of names.filter((n) => n !== 'prototype')) expect(plain[name]).toBeDefined();
    });

    it.each(names)('config set %s is CONFIG_KEY_UNKNOWN and writes nothing', (name) => {
      expect(codeOf(() => parseConfigValue(name, 'x'))).toBe('CONFIG_KEY_UNKNOWN');
      expect(codeOf(() => setConfigValue(name, 'x', { file }))).toBe('CONFIG_KEY_UNKNOWN');
      expect(fs.existsSync(file)).toBe(false);
    });

    it.each(names)('--profile %s is PROFILE_UNKNOWN when read', (name) => {
      expect(codeOf(() => resolveProfile(emptyConfig(), name))).toBe('PROFILE_UNKNOWN');
      expect(codeOf(() => resolveProfile({ ...emptyConfig(), default_profile: name }))).toBe('PROFILE_UNKNOWN');
    });

    it('setting into profile __proto__ is PROFILE_NAME_INVALID; constructor is an ordinary profile', () => {
      expect(codeOf(() => setConfigValue('backend', 'local', { file, profile: '__proto__' }))).toBe('PROFILE_NAME_INVALID');
      expect(fs.existsSync(file)).toBe(false);
      setConfigValue('backend', 'local', { file, profile: 'constructor' });
      const config = loadConfig(file);
      expect(Object.hasOwn(config.profiles, 'constructor')).toBe(true);
      expect(resolveProfile(config, 'constructor').settings).toEqual({ backend: 'local' });
      expect(Object.getPrototypeOf(config.profiles)).toBe(Object.prototype);
    });

    it.each([
      ['a __proto__ key in a profile', '{"version":1,"default_profile":"default","profiles":{"default":{"__proto__":{"backend":"local"}}}}'],
      ['a constructor key in a profile', '{"version":1,"default_profile":"default","profiles":{"default":{"constructor":"x"}}}'],
      ['a __proto__ profile', '{"version":1,"default_profile":"default","profiles":{"default":{},"__proto__":{}}}'],
      ['a __proto__ default profile', '{"version":1,"default_profile":"__proto__","profiles":{"default":{}}}'],
      ['a constructor default profile that does not exist', '{"version":1,"default_profile":"constructor","profiles":{"default":{}}}'],
    ])('a file with %s is rejected with a code, never a crash', (label, text) => {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, text);
      if (label.includes('does not exist')) {
        expect(codeOf(() => resolveProfile(loadConfig(file)))).toBe('PROFILE_UNKNOWN');
      } else {
        expect(codeOf(() => loadConfig(file))).toBe('CONFIG_INVALID');
      }
    });
  });

  describe('reading the file', () => {
    it('refuses a FIFO without blocking, and a directory', () => {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      execFileSync('mkfifo', [file]);
      expect(codeOf(() => loadConfig(file))).toBe('CONFIG_INVALID');
      fs.rmSync(file);
      fs.mkdirSync(file);
      expect(codeOf(() => loadConfig(file))).toBe('CONFIG_INVALID');
    });

    it('refuses a symlink to /dev/zero, and a file over the cap', () => {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.symlinkSync('/dev/zero', file);
      expect(codeOf(() => loadConfig(file))).toBe('CONFIG_INVALID');
      fs.rmSync(file);
      fs.writeFileSync(file, JSON.stringify(emptyConfig()) + ' '.repeat(MAX_CONFIG_BYTES));
      expect(codeOf(() => loadConfig(file))).toBe('CONFIG_INVALID');
      // Control: the same content under the cap loads.
      fs.writeFileSync(file, JSON.stringify(emptyConfig()) + ' '.repeat(16));
      expect(loadConfig(file)).toEqual(emptyConfig());
    });
  });
});
