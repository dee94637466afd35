// Loads the CLI bundle through V8's code cache. Compiling about 1.3 MB of JavaScript on every
// start costs as much as a small run's own work; with the bytecode of what the last run of the
// same command compiled, a start skips that.
//
// Where: $SWARM_CODE_CACHE, else $XDG_CACHE_HOME/swarm/code, else ~/.cache/swarm/code
// (SWARM_CODE_CACHE=off turns it off). The directory is this user's, 0700; a cache file is read only
// when it belongs to this user and no one else can write it, since its bytecode runs as swarm. A
// sandboxed step sees the host file system read-only, so it cannot plant one.
//
// One file per bundle digest, Node version and command ("run-resume"). V8 checks its own version
// and flags and only the length of the source, so the digest of the bundle's bytes is in the name:
// a rebuilt bundle never meets bytecode of another. A rejected or unreadable cache costs nothing
// but the compile it would have saved; it is replaced after a successful run. Every failure here
// falls back to compiling: the cache is an optimisation, never a reason for a command to fail.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const { createRequire } = require('node:module');
const os = require('node:os');
const path = require('node:path');
const vm = require('node:vm');

/** Cache files kept at most; the least recently written go first. */
const KEEP = 32;
/**
 * A cache file is this tag, the SHA-256 of the bytecode, then the bytecode. Release builds of V8
 * check a cache's header but not its body, and a flipped byte in the body can crash the process or
 * run wrong code; so the digest is checked before V8 sees a byte (about 1 ms a megabyte).
 */
const TAG = Buffer.from('swarm-v8-cache-1\n');
const DIGEST_BYTES = 32;

/**
 * Compiles and evaluates a CommonJS bundle for the command line `argv`; returns its exports and
 * `save(key)`, which writes the bytecode compiled so far as the cache of the command `key` names
 * ("run-resume", "diff", "top") unless that cache was the one used. Which command a line runs is
 * only known once it is parsed, so the load tries the line's first two words, then its first,
 * then "top" (`diff main topic` finds "diff").
 */
function loadBundle(file, argv, env = process.env) {
  const source = fs.readFileSync(file, 'utf8');
  // Any failure to find or name a cache (no home directory, say) just means no cache.
  let dir = null;
  let stem = null;
  try {
    dir = cacheDir(env);
    stem = dir ? cacheStem(file, source) : null;
  } catch {
    dir = null;
  }
  const fileOf = (key) => path.join(dir, `${stem}-${key}.v8`);
  let used = null;
  let cachedData;
  if (stem) {
    for (const key of candidateKeys(argv)) {
      cachedData = unwrap(readOwnFile(fileOf(key)));
      if (cachedData !== undefined) {
        used = key;
        break;
      }
    }
  }
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
  const script = new vm.Script(wrapped, {
    filename: file,
    cachedData,
    importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  // Not `module`: in this CommonJS file that names the loader's own module.
  const bundleModule = { exports: {} };
  script.runInThisContext().call(bundleModule.exports, bundleModule.exports, createRequire(file), bundleModule, file, path.dirname(file));
  const usable = cachedData !== undefined && !script.cachedDataRejected;
  return {
    exports: bundleModule.exports,
    /** Whether V8 took the cached bytecode. */
    cached: usable,
    save(key) {
      if (!stem || typeof key !== 'string' || !/^[a-z][a-z-]{0,63}$/.test(key) || (usable && used === key)) return;
      try {
        const data = script.createCachedData();
        writeCache(dir, fileOf(key), Buffer.concat([TAG, crypto.createHash('sha256').update(data).digest(), data]));
      } catch {
        // best effort
      }
    },
  };
}

/** The command keys a line may run under, most specific first. */
function candidateKeys(argv) {
  const words = [];
  for (const arg of argv) {
    if (words.length === 2 || !/^[a-z][a-z-]{0,31}$/.test(arg)) break;
    words.push(arg);
  }
  return [...(words.length === 2 ? [words.join('-')] : []), ...(words.length > 0 ? [words[0]] : []), 'top'];
}

/**
 * The bundle's identity: the digest the build wrote beside it (hashing 1.3 MB here would cost
 * more than a third of what the cache saves), with its size and mtime, so a bundle changed
 * without a build still gets a name of its own; else the digest of its bytes.
 */
function cacheStem(file, source) {
  let digest;
  try {
    const recorded = fs.readFileSync(`${file}.sha256`, 'utf8').trim();
    const stat = fs.statSync(file);
    if (/^[0-9a-f]{64}$/.test(recorded)) digest = `${recorded.slice(0, 24)}-${stat.size.toString(36)}-${Math.trunc(stat.mtimeMs).toString(36)}`;
  } catch {
    // no build record
  }
  digest ??= crypto.createHash('sha256').update(source).digest('hex').slice(0, 24);
  // V8 rejects bytecode made under other flags: each set of Node options (--inspect, --cpu-prof,
  // NODE_OPTIONS) gets its own file instead of taking turns overwriting one.
  const options = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join('\0');
  const flags = options === '' ? '' : `-${crypto.createHash('sha256').update(options).digest('hex').slice(0, 8)}`;
  return `${digest}-node${process.versions.node}-${process.arch}${flags}`;
}

function cacheDir(env) {
  const setting = env.SWARM_CODE_CACHE?.trim();
  if (setting === 'off' || setting === '0') return null;
  if (setting) return path.resolve(setting);
  const base = env.XDG_CACHE_HOME?.trim() || (os.homedir() ? path.join(os.homedir(), '.cache') : '');
  return base ? path.join(base, 'swarm', 'code') : null;
}

/** The bytecode of a cache file whose digest holds; undefined for anything else. */
function unwrap(bytes) {
  if (bytes === undefined || bytes.length <= TAG.length + DIGEST_BYTES || !bytes.subarray(0, TAG.length).equals(TAG)) return undefined;
  const data = bytes.subarray(TAG.length + DIGEST_BYTES);
  const digest = crypto.createHash('sha256').update(data).digest();
  return digest.equals(bytes.subarray(TAG.length, TAG.length + DIGEST_BYTES)) ? data : undefined;
}

/** The file's bytes if this user owns it and only this user can write it; else undefined. */
function readOwnFile(file) {
  let fd;
  try {
    // O_NONBLOCK: a fifo planted in the directory must not stall the start.
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    const stat = fs.fstatSync(fd);
    const dir = fs.lstatSync(path.dirname(file));
    if (!stat.isFile() || !trusted(stat) || !dir.isDirectory() || !trusted(dir)) return undefined;
    return fs.readFileSync(fd);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function trusted(stat) {
  const uid = process.getuid?.();
  return (uid === undefined || stat.uid === uid) && (stat.mode & 0o022) === 0;
}

function writeCache(dir, file, data) {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = fs.lstatSync(dir);
  if (!stat.isDirectory() || !trusted(stat)) return;
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  prune(dir);
}

function prune(dir) {
  const files = [];
  for (const name of fs.readdirSync(dir)) {
    if (!name.endsWith('.v8') && !name.endsWith('.tmp')) continue;
    try {
      files.push({ name, mtime: fs.lstatSync(path.join(dir, name)).mtimeMs });
    } catch {
      // removed meanwhile
    }
  }
  // Leftover temporaries of a killed writer go once they are a minute old.
  const now = Date.now();
  for (const f of files) if (f.name.endsWith('.tmp') && now - f.mtime > 60_000) fs.rmSync(path.join(dir, f.name), { force: true });
  const caches = files.filter((f) => f.name.endsWith('.v8')).sort((a, b) => b.mtime - a.mtime);
  for (const f of caches.slice(KEEP)) fs.rmSync(path.join(dir, f.name), { force: true });
}

exports.loadBundle = loadBundle;
