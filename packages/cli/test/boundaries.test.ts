// Package boundaries: cli → {state, verify, proxy, github} → core, nothing else. Reads every manifest and
// every import in packages/*/src and fails on a cycle, an undeclared or forbidden edge, or a deep
// import into another package.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const packagesDir = fileURLToPath(new URL('../../', import.meta.url));

/** The only internal edges allowed (by directory name). */
const ALLOWED: Record<string, string[]> = {
  core: [],
  state: ['core'],
  verify: ['core'],
  proxy: ['core'],
  github: ['core'],
  cli: ['core', 'state', 'verify', 'proxy', 'github'],
  'test-utils': ['core'],
};
/** Test files may also import these, undeclared. */
const TEST_ONLY = ['test-utils'];

interface Manifest {
  dir: string;
  name: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  exports?: unknown;
}

interface ImportSite {
  file: string;
  specifier: string;
  test: boolean;
}

function loadManifests(): Map<string, Manifest> {
  const manifests = new Map<string, Manifest>();
  for (const dir of fs.readdirSync(packagesDir).sort()) {
    const file = path.join(packagesDir, dir, 'package.json');
    if (!fs.existsSync(file)) continue;
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));
    manifests.set(dir, { dir, name: json.name, dependencies: json.dependencies ?? {}, devDependencies: json.devDependencies ?? {}, exports: json.exports });
  }
  return manifests;
}

/** Every module specifier in static imports, re-exports, side-effect imports and import(). */
function importsOf(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const specifiers: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\s+(?:type\s+)?[\w*{}\s,$]*?\s*from\s*['"]([^'"]+)['"]/gm,
    /^\s*import\s*['"]([^'"]+)['"]/gm,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const pattern of patterns) for (const match of code.matchAll(pattern)) specifiers.push(match[1]!);
  return specifiers;
}

function importSites(dir: string): ImportSite[] {
  const src = path.join(packagesDir, dir, 'src');
  if (!fs.existsSync(src)) return [];
  return fs
    .readdirSync(src, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ts|mts|js|mjs)$/.test(f) && !f.endsWith('.d.ts'))
    .flatMap((f) => {
      const file = path.join(src, f);
      const test = /\.test\.[mc]?[jt]s$/.test(f);
      return importsOf(fs.readFileSync(file, 'utf8')).map((specifier) => ({ file, specifier, test }));
    });
}

/** The directory name of an internal package, from `@swarm/<name>[/…]`. */
function internalTarget(specifier: string, byName: Map<string, string>): { dir: string; deep: boolean } | undefined {
  const match = /^(@swarm\/[^/]+)(\/.*)?$/.exec(specifier);
  if (!match) return undefined;
  const dir = byName.get(match[1]!);
  return dir === undefined ? { dir: match[1]!, deep: match[2] !== undefined } : { dir, deep: match[2] !== undefined };
}

/** The entry points a workspace package declares (`.`, `./supervision`, …). */
function exportsOf(dir: string): string[] {
  const exports = manifests.get(dir)?.exports;
  return exports && typeof exports === 'object' ? Object.keys(exports as Record<string, unknown>) : [];
}

/** Every cycle reachable in a directed graph, each as a path that returns to its start. */
function findCycles(graph: Record<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'visiting');
    stack.push(node);
    for (const next of graph[node] ?? []) {
      if (state.get(next) === 'visiting') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of Object.keys(graph).sort()) if (!state.has(node)) visit(node);
  return cycles;
}

/** Edges of `graph` that `allowed` does not list. */
function forbiddenEdges(graph: Record<string, string[]>, allowed: Record<string, string[]>): string[] {
  return Object.entries(graph).flatMap(([from, tos]) => tos.filter((to) => !(allowed[from] ?? []).includes(to)).map((to) => `${from} → ${to}`));
}

const manifests = loadManifests();
const byName = new Map([...manifests.values()].map((m) => [m.name, m.dir]));

/** Declared internal edges from package.json (dependencies and devDependencies). */
const declared: Record<string, string[]> = Object.fromEntries(
  [...manifests.values()].map((m) => [
    m.dir,
    Object.keys({ ...m.dependencies, ...m.devDependencies })
      .map((name) => byName.get(name))
      .filter((d): d is string => d !== undefined),
  ]),
);

/** Edges actually used by non-test sources. */
const used: Record<string, string[]> = {};
const sites = new Map<string, ImportSite[]>();
for (const dir of manifests.keys()) {
  const list = importSites(dir);
  sites.set(dir, list);
  used[dir] = [
    ...new Set(
      list
        .filter((s) => !s.test)
        .map((s) => internalTarget(s.specifier, byName)?.dir)
        .filter((d): d is string => d !== undefined),
    ),
  ];
}

describe('package boundaries', () => {
  it('finds the packages and their imports', () => {
    for (const dir of ['core', 'state', 'verify', 'proxy', 'cli']) expect([...manifests.keys()]).toContain(dir);
    expect(used.cli).toContain('core');
  });

  it('every workspace package is a known one with allowed edges listed here', () => {
    expect([...manifests.keys()].filter((dir) => !(dir in ALLOWED))).toEqual([]);
  });

  it('declares only allowed internal dependencies', () => {
    expect(forbiddenEdges(declared, ALLOWED)).toEqual([]);
  });

  it('imports only allowed packages', () => {
    expect(forbiddenEdges(used, ALLOWED)).toEqual([]);
  });

  it('declares every internal package it imports', () => {
    const undeclared: string[] = [];
    for (const [dir, list] of sites) {
      for (const site of list) {
        const target = internalTarget(site.specifier, byName);
        if (!target || target.dir === dir) continue;
        if (site.test && TEST_ONLY.includes(target.dir)) continue;
        if (!manifests.has(target.dir)) undeclared.push(`${path.relative(packagesDir, site.file)}: ${site.specifier} is not a workspace package`);
        else if (!declared[dir]!.includes(target.dir)) undeclared.push(`${path.relative(packagesDir, site.file)}: ${site.specifier} is not in ${dir}/package.json`);
      }
    }
    expect(undeclared).toEqual([]);
  });

  it('has no cycle among packages', () => {
    const graph: Record<string, string[]> = {};
    for (const dir of manifests.keys()) graph[dir] = [...new Set([...declared[dir]!, ...used[dir]!])];
    expect(findCycles(graph)).toEqual([]);
  });

  it('never imports into another package\'s files (src/, dist/ or any subpath)', () => {
    const deep: string[] = [];
    for (const [dir, list] of sites) {
      const own = path.join(packagesDir, dir);
      for (const site of list) {
        const where = `${path.relative(packagesDir, site.file)}: ${site.specifier}`;
        const target = internalTarget(site.specifier, byName);
        // A subpath the package declares in its exports map is one of its entry points, not its files.
        const declaredEntry = target?.deep && exportsOf(target.dir).includes(`.${site.specifier.slice(site.specifier.indexOf('/', site.specifier.indexOf('/') + 1))}`);
        if (target?.deep && !declaredEntry) deep.push(where);
        if (site.specifier.startsWith('.')) {
          const resolved = path.resolve(path.dirname(site.file), site.specifier);
          if (path.relative(own, resolved).startsWith('..')) deep.push(where);
        }
        if (/(^|\/)packages\/[^/]+\/(src|dist)\//.test(site.specifier)) deep.push(where);
      }
    }
    expect(deep).toEqual([]);
  });

  it('builds every internal dependency first (tsconfig project references)', () => {
    const missing: string[] = [];
    for (const [dir, deps] of Object.entries(declared)) {
      const file = path.join(packagesDir, dir, 'tsconfig.json');
      if (!fs.existsSync(file)) continue;
      const references = ((JSON.parse(fs.readFileSync(file, 'utf8')).references ?? []) as Array<{ path: string }>).map((r) =>
        path.basename(path.resolve(packagesDir, dir, r.path)),
      );
      for (const dep of deps) if (!references.includes(dep) && fs.existsSync(path.join(packagesDir, dep, 'tsconfig.json'))) missing.push(`${dir} → ${dep}`);
    }
    expect(missing).toEqual([]);
  });
});

describe('the boundary checks themselves', () => {
  it('see every kind of import', () => {
    const source = [
      "import { a } from '@swarm/core';",
      "import type { B } from '@swarm/state';",
      "export * from './x.js';",
      "import '@swarm/proxy';",
      "const m = await import('@swarm/verify');",
      'import {',
      '  c,',
      '  d,',
      "} from '@swarm/test-utils';",
      "// import { no } from '@swarm/commented';",
      "const text = 'import nothing from here';",
    ].join('\n');
    expect(importsOf(source).sort()).toEqual(['./x.js', '@swarm/core', '@swarm/proxy', '@swarm/state', '@swarm/test-utils', '@swarm/verify']);
  });

  it('find cycles and forbidden edges', () => {
    expect(findCycles({ a: ['b'], b: ['c'], c: ['a'] })).toEqual([['a', 'b', 'c', 'a']]);
    expect(findCycles({ a: ['b'], b: [], c: ['a', 'b'] })).toEqual([]);
    expect(findCycles({ a: ['a'] })).toEqual([['a', 'a']]);
    expect(forbiddenEdges({ state: ['core', 'verify'], cli: ['state'] }, ALLOWED)).toEqual(['state → verify']);
  });
});
