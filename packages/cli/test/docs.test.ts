import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

// The generator runs from the build, exactly as `npm run docs` runs it (`npm test` builds first).
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const genDocs = path.join(repoRoot, 'packages/cli/dist/gen-docs.js');
const mainJs = path.join(repoRoot, 'packages/cli/dist/main.js');
const CLI_DOC = path.join(repoRoot, 'docs/cli.md');
const ERRORS_DOC = path.join(repoRoot, 'docs/errors.md');

interface Generated {
  cli: string;
  errors: string;
  codes: string[];
  cliDocPath: string;
  definitions: Array<{ path: string; description?: string; options: Array<{ definition: string; description?: string }> }>;
}
let generated: Generated;

beforeAll(() => {
  if (!fs.existsSync(genDocs)) throw new Error('packages/cli/dist is missing: run `npm run build` first');
  const script = `
    const docs = await import(${JSON.stringify(pathToFileURL(genDocs).href)});
    const { createCli } = await import(${JSON.stringify(pathToFileURL(mainJs).href)});
    const codes = (await docs.loadAllErrorCodes()).map(([code]) => code);
    process.stdout.write(JSON.stringify({
      cli: docs.renderCliDoc(), errors: await docs.renderErrorsDoc(), codes, cliDocPath: docs.CLI_DOC,
      definitions: createCli().definitions(),
    }));`;
  generated = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', maxBuffer: 64 << 20 }));
});

/** Fails with the first differing line, so a stale document is easy to see. */
function expectFresh(file: string, rendered: string): void {
  const committed = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  if (committed === rendered) return;
  const a = committed.split('\n');
  const b = rendered.split('\n');
  let line = 0;
  while (line < Math.max(a.length, b.length) && a[line] === b[line]) line++;
  throw new Error(
    `${path.relative(repoRoot, file)} is stale: run \`npm run docs\` (after \`npm run build\`).\n` +
      `first difference at line ${line + 1}:\n  committed: ${JSON.stringify(a[line] ?? '(end of file)')}\n  generated: ${JSON.stringify(b[line] ?? '(end of file)')}`,
  );
}

function sourceFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.d.ts') && !f.split(path.sep).includes('generated'))
    .map((f) => path.join(dir, f));
}

describe('generated docs', () => {
  it('docs/cli.md matches the command definitions', () => {
    expectFresh(CLI_DOC, generated.cli);
  });

  it('docs/errors.md lists every registered error code', () => {
    expectFresh(ERRORS_DOC, generated.errors);
  });

  it('are written to docs/ at the repository root', () => {
    expect(path.resolve(generated.cliDocPath)).toBe(path.resolve(CLI_DOC));
  });

  it('the CLI reference documents every registered command, each with a description', () => {
    expect(generated.definitions.length).toBeGreaterThan(0);
    for (const definition of generated.definitions) {
      expect(generated.cli, definition.path).toContain(`### ${definition.path}\n`);
      expect(definition.description?.trim(), `${definition.path} has no description`).toBeTruthy();
      for (const option of definition.options) {
        expect(option.description?.trim(), `${definition.path} ${option.definition} has no description`).toBeTruthy();
      }
    }
  });

  it('the error reference names every registered code', () => {
    expect(generated.codes.length).toBeGreaterThan(10);
    for (const code of generated.codes) expect(generated.errors).toContain(`| \`${code}\` |`);
  });

  it('every error code thrown in the sources is registered', () => {
    const registered = new Set(generated.codes);
    const thrown = new Map<string, string>();
    const pattern = /\b(?:new SwarmError|fsError)\(\s*['"]([A-Z][A-Z0-9_]*)['"]/g;
    for (const pkg of fs.readdirSync(path.join(repoRoot, 'packages'))) {
      const src = path.join(repoRoot, 'packages', pkg, 'src');
      if (!fs.existsSync(src)) continue;
      for (const file of sourceFiles(src)) {
        for (const match of fs.readFileSync(file, 'utf8').matchAll(pattern)) {
          thrown.set(match[1]!, path.relative(repoRoot, file));
        }
      }
    }
    expect(thrown.size).toBeGreaterThan(10);
    const unregistered = [...thrown].filter(([code]) => !registered.has(code)).map(([code, file]) => `${code} (${file})`);
    expect(unregistered, 'register these codes with registerErrorCodes()').toEqual([]);
  });
});
