// Bundles the CLI and the workspace packages it uses into one CommonJS file, dist/bundle/swarm.cjs,
// which bin/swarm.js compiles with V8's code cache (see bin/swarm.js). One file because start-up
// otherwise pays Node's per-module ESM resolution (about 80 modules for a run) and because a code
// cache is per script. better-sqlite3's JavaScript is bundled too (compiled from source at every
// start it cost about 10 ms); its native addon is loaded by path, not through the `bindings`
// package, which searches a dozen places for it (about 4 ms).
//
// A bundled module that asks for its own location (import.meta.url) gets the location of its
// original file in the package's dist, not the bundle's, so files it finds beside itself (core's
// generated validators, the proxy's compiled sandbox init) are found where the packages put them.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.resolve(here, '..');
const outdir = path.join(cli, 'dist/bundle');
const packages = path.resolve(cli, '..');

// Files of an earlier build would linger beside the new ones (the bundle itself is replaced by a rename).
fs.mkdirSync(outdir, { recursive: true });
for (const name of fs.readdirSync(outdir)) if (!['swarm.cjs', 'swarm.cjs.sha256'].includes(name)) fs.rmSync(path.join(outdir, name), { recursive: true, force: true });

/** import.meta.url of a workspace module, as a path relative to the bundle's directory. */
const ownLocation = {
  name: 'own-location',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, async (args) => {
      if (!args.path.startsWith(packages + path.sep)) return undefined;
      let source = await fs.promises.readFile(args.path, 'utf8');
      if (!source.includes('import.meta.url')) return undefined;
      // A file required beside the module (core's validators) goes into the bundle, lazily
      // evaluated as before, so its bytecode is in the code cache too.
      source = source.replace(/createRequire\(import\.meta\.url\)\((['"])(\.\.?\/[^'"]+)\1\)/g, 'require($1$2$1)');
      const relative = path.relative(outdir, args.path).split(path.sep).join('/');
      const url = `require('node:url').pathToFileURL(require('node:path').resolve(__dirname, ${JSON.stringify(relative)})).href`;
      return { contents: source.replaceAll('import.meta.url', `(${url})`), loader: 'js' };
    });
  },
};

/**
 * better-sqlite3's database.js loads its addon with `require('bindings')('better_sqlite3.node')`;
 * in the bundle it loads the addon of the install it was bundled from, by its path relative to the
 * bundle, and where that is gone, the addon of whichever better-sqlite3 Node resolves.
 */
const sqliteAddon = {
  name: 'sqlite-addon',
  setup(b) {
    b.onLoad({ filter: /[\\/]better-sqlite3[\\/]lib[\\/]database\.js$/ }, async (args) => {
      const source = await fs.promises.readFile(args.path, 'utf8');
      const call = "require('bindings')('better_sqlite3.node')";
      if (!source.includes(call)) throw new Error(`bundle.mjs: ${args.path} no longer loads its addon with ${call}`);
      const addon = path.resolve(path.dirname(args.path), '..', 'build', 'Release', 'better_sqlite3.node');
      if (!fs.existsSync(addon)) throw new Error(`bundle.mjs: better-sqlite3's addon not found at ${addon}`);
      const relative = path.relative(outdir, addon).split(path.sep).join('/');
      const load = `((p) => { try { return require(p.resolve(__dirname, ${JSON.stringify(relative)})); } catch (e) { if (e?.code !== 'MODULE_NOT_FOUND') throw e; return require(p.join(p.dirname(require.resolve('better-sqlite3/package.json')), 'build', 'Release', 'better_sqlite3.node')); } })(require('node:path'))`;
      return { contents: source.replace(call, load), loader: 'js' };
    });
  },
};

const built = await build({
  entryPoints: [path.join(cli, 'dist/main.js')],
  outfile: path.join(outdir, 'swarm.cjs'),
  // Kept in memory and renamed into place below: a swarm starting during a build never reads
  // half a bundle.
  write: false,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // Only ever resolved, by the addon's fallback above.
  external: ['better-sqlite3/package.json'],
  plugins: [ownLocation, sqliteAddon],
  logLevel: 'warning',
  legalComments: 'none',
});

// esbuild gives every `import x from 'node:fs'` its own copy of the module's properties (about
// 240 copies of a few builtins, 10 ms a start). One view per module and mode is enough: a view is
// a set of getters nobody writes to.
const bundled = path.join(outdir, 'swarm.cjs');
const code = built.outputFiles[0].text;
// A dynamic import() left in the bundle (of a module esbuild keeps external) would need a module
// loader the code-cached script does not get reliably: every such import must be static or a require.
const dynamic = code.match(/\bimport\("[^"]*"\)/g);
if (dynamic) throw new Error(`bundle.mjs: dynamic import of an external module in the bundle: ${[...new Set(dynamic)].join(', ')}`);
const at = code.indexOf('var __toCommonJS = ');
if (!code.includes('var __toESM = ') || at < 0 || code.indexOf('var __toESM = ') > at) throw new Error('bundle.mjs: esbuild helpers not found where expected (did esbuild change its output?)');
const views = `var __toESMViews = new WeakMap();
var __toESMEach = __toESM;
__toESM = (mod, isNodeMode) => {
  if (mod == null || (typeof mod !== "object" && typeof mod !== "function")) return __toESMEach(mod, isNodeMode);
  let seen = __toESMViews.get(mod);
  if (!seen) __toESMViews.set(mod, (seen = [void 0, void 0]));
  return (seen[isNodeMode ? 1 : 0] ??= __toESMEach(mod, isNodeMode));
};
`;
// Written beside and renamed over: a swarm starting during a build never reads half a bundle.
fs.writeFileSync(`${bundled}.tmp`, code.slice(0, at) + views + code.slice(at));
fs.renameSync(`${bundled}.tmp`, bundled);

// The bundle's digest, which names its code cache (bin/code-cache.js).
fs.writeFileSync(`${bundled}.sha256.tmp`, `${crypto.createHash('sha256').update(fs.readFileSync(bundled)).digest('hex')}\n`);
fs.renameSync(`${bundled}.sha256.tmp`, `${bundled}.sha256`);

// The web UI (`swarm ui`): its page and script, served by the CLI from dist/web; no CDN.
const ui = path.join(cli, 'dist/web');
fs.rmSync(ui, { recursive: true, force: true });
fs.mkdirSync(ui, { recursive: true });
await build({
  entryPoints: [path.join(cli, 'ui/app.ts')],
  outfile: path.join(ui, 'app.js'),
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: 'es2020',
  minify: true,
  logLevel: 'warning',
  legalComments: 'none',
});
fs.copyFileSync(path.join(cli, 'ui/index.html'), path.join(ui, 'index.html'));
