/**
 * Loads GitHub's own workflow parser (`@actions/workflow-parser`) and expression engine
 * (`@actions/expressions`) for the loopback runner.
 *
 * The parser's dist imports its JSON schemas without import attributes, which Node 20 refuses to
 * load, so both packages are bundled once with esbuild (a root devDependency) into one ESM file
 * under `node_modules/.cache/swarm-workflow-parser/`, keyed by the packages' and esbuild's versions.
 * One bundle holds one copy of `@actions/expressions`, so the parser's tokens and the evaluator's
 * data classes are the same classes. The bundle is written to a temporary name and renamed, so
 * concurrent test workers never read a half-written file.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import type * as WorkflowParserApi from '@actions/workflow-parser';
import type * as ActionsApi from '@actions/workflow-parser/actions/index';
import type * as ConvertApi from '@actions/workflow-parser/model/convert';
import type * as IfConditionApi from '@actions/workflow-parser/model/converter/if-condition';
import type * as TokensApi from '@actions/workflow-parser/templates/tokens/index';
import type * as ExpressionsApi from '@actions/expressions';
import type * as ResultApi from '@actions/expressions/result';

export type ParserModule = typeof WorkflowParserApi & {
  parseAction: typeof ActionsApi.parseAction;
  convertActionTemplate: typeof ActionsApi.convertActionTemplate;
  ErrorPolicy: typeof ConvertApi.ErrorPolicy;
  /** Wraps a condition without a status function in `success() && (…)`, as GitHub does. */
  ensureStatusFunction: typeof IfConditionApi.ensureStatusFunction;
  tokens: typeof TokensApi;
  expressions: typeof ExpressionsApi;
  result: typeof ResultApi;
};

const ENTRY = `// bundle v2
export * from '@actions/workflow-parser';
export { parseAction, convertActionTemplate } from '@actions/workflow-parser/actions/index';
export { ErrorPolicy } from '@actions/workflow-parser/model/convert';
export { ensureStatusFunction } from '@actions/workflow-parser/model/converter/if-condition';
export * as tokens from '@actions/workflow-parser/templates/tokens/index';
export * as expressions from '@actions/expressions';
export * as result from '@actions/expressions/result';
`;

/** The node_modules directory that holds `@actions/workflow-parser` (searched upwards from here). */
function findNodeModules(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'node_modules');
    if (fs.existsSync(path.join(candidate, '@actions', 'workflow-parser', 'package.json'))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('@actions/workflow-parser is not installed (npm install at the repository root)');
    dir = parent;
  }
}

function versionOf(nodeModules: string, name: string): string {
  const file = path.join(nodeModules, ...name.split('/'), 'package.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}

let loading: Promise<ParserModule> | undefined;

/** The bundled parser + expressions module (built at first use, then cached on disk and in memory). */
export function loadWorkflowParser(): Promise<ParserModule> {
  loading ??= build().catch((err: unknown) => {
    loading = undefined;
    throw err;
  });
  return loading;
}

async function build(): Promise<ParserModule> {
  const nodeModules = findNodeModules();
  const key = createHash('sha256')
    .update(ENTRY)
    .update(versionOf(nodeModules, '@actions/workflow-parser'))
    .update(versionOf(nodeModules, '@actions/expressions'))
    .update(versionOf(nodeModules, 'esbuild'))
    .digest('hex')
    .slice(0, 16);
  const cacheDir = path.join(nodeModules, '.cache', 'swarm-workflow-parser');
  const outfile = path.join(cacheDir, `parser-${key}.mjs`);
  if (!fs.existsSync(outfile)) {
    fs.mkdirSync(cacheDir, { recursive: true });
    const esbuild = await import('esbuild');
    const result = await esbuild.build({
      stdin: { contents: ENTRY, resolveDir: path.dirname(nodeModules), sourcefile: 'swarm-workflow-parser-entry.js', loader: 'js' },
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      write: false,
      logLevel: 'silent',
      legalComments: 'inline',
      // The bundled CommonJS dependencies (yaml) require Node built-ins.
      banner: { js: "import { createRequire as __swarmCreateRequire } from 'node:module'; const require = __swarmCreateRequire(import.meta.url);" },
    });
    const tmp = `${outfile}.${process.pid}.${Math.random().toString(16).slice(2)}.tmp`;
    fs.writeFileSync(tmp, result.outputFiles[0]!.contents);
    fs.renameSync(tmp, outfile);
  }
  return (await import(pathToFileURL(outfile).href)) as ParserModule;
}
