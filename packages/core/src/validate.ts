/**
 * Contract validation: the build-time compiled JSON Schemas plus the checks a schema cannot express.
 * Every problem is reported at once, each with a JSON Pointer path.
 */
import { createRequire } from 'node:module';
import { SWARM_DIGEST_RE } from './digest.js';
import { SwarmError } from './errors.js';
import type { NumberNote } from './strict-json.js';

export const SCHEMA_NAMES = [
  'capability',
  'certificate',
  'ledger',
  'next_tokens',
  'node',
  'output',
  'policy',
  'result',
  'ticket',
] as const;
export type SchemaName = (typeof SCHEMA_NAMES)[number];

export interface ValidationIssue {
  /** JSON Pointer to the offending field ('' is the document itself). */
  path: string;
  keyword: string;
  message: string;
}

export interface ValidationReport {
  schema: SchemaName;
  valid: boolean;
  errors: ValidationIssue[];
}

interface AjvError {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}
type CompiledValidator = ((data: unknown) => boolean) & { errors?: AjvError[] | null };

/** `critical_*` keys that swarm understands; any other one makes a certificate invalid. */
const KNOWN_CRITICAL_KEYS: ReadonlySet<string> = new Set();

export function isSchemaName(name: string): name is SchemaName {
  return (SCHEMA_NAMES as readonly string[]).includes(name);
}

let compiled: Record<string, CompiledValidator> | undefined;

/** The build-time compiled validators, loaded on first use so they stay off the start-up path. */
function validators(): Record<string, CompiledValidator> {
  compiled ??= createRequire(import.meta.url)('./generated/validators.cjs') as Record<string, CompiledValidator>;
  return compiled;
}

export interface ValidateOptions {
  /** Numbers the parser saw written as non-integers or beyond u64 (see parseStrictJson). */
  numbers?: readonly NumberNote[];
}

export function validateDocument(schema: SchemaName, document: unknown, options: ValidateOptions = {}): ValidationReport {
  const validator = validators()[schema];
  if (!validator) throw new SwarmError('SCHEMA_UNKNOWN', `unknown schema ${schema}`, { details: { known: SCHEMA_NAMES } });
  const errors: ValidationIssue[] = [];
  if (!validator(document)) {
    // An `if` error only says "the then branch failed"; the failing fields are reported on their own.
    errors.push(...(validator.errors ?? []).filter((e) => e.keyword !== 'if').map(toIssue));
  }
  if (options.numbers !== undefined && options.numbers.length > 0) errors.push(...integerFormIssues(validator, document, options.numbers));
  errors.push(...semanticIssues(schema, document));
  const unique = dedupe(errors);
  return { schema, valid: unique.length === 0, errors: unique };
}

/** Validates and throws SCHEMA_INVALID naming every bad field. */
export function assertValidDocument(schema: SchemaName, document: unknown, label: string = schema, options: ValidateOptions = {}): void {
  const report = validateDocument(schema, document, options);
  if (!report.valid) throw schemaError(label, report);
}

export function schemaError(label: string, report: ValidationReport): SwarmError {
  const list = report.errors.map((e) => `${e.path || '/'} ${e.message}`).join('; ');
  return new SwarmError('SCHEMA_INVALID', `${label} is invalid: ${list}`, {
    details: { schema: report.schema, errors: report.errors },
  });
}

function toIssue(error: AjvError): ValidationIssue {
  if (error.keyword === 'required') {
    const missing = String(error.params.missingProperty);
    return { path: `${error.instancePath}/${escapePointer(missing)}`, keyword: 'required', message: 'is required' };
  }
  if (error.keyword === 'additionalProperties') {
    // Name the field that is not allowed, not the object holding it.
    const extra = String(error.params.additionalProperty);
    return { path: `${error.instancePath}/${escapePointer(extra)}`, keyword: 'additionalProperties', message: 'is not allowed' };
  }
  if (error.keyword === 'pattern' && error.params.pattern === '\\S') {
    return { path: error.instancePath, keyword: 'required', message: 'is required (blank string)' };
  }
  if (error.keyword === 'enum') {
    const allowed = (error.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ');
    return { path: error.instancePath, keyword: 'enum', message: `must be one of ${allowed}` };
  }
  if (error.keyword === 'const') {
    return { path: error.instancePath, keyword: 'const', message: `must be ${JSON.stringify(error.params.allowedValue)}` };
  }
  return { path: error.instancePath, keyword: error.keyword, message: error.message ?? 'is invalid' };
}

/**
 * `1.0`, `1e0` and 2^64 parse to JS integers, so the schema alone accepts them where an integer is
 * required. Validating a copy with each such number replaced by 0.5 lets the schema itself say which
 * of them sit at integer-typed positions (through $refs and unions alike).
 */
function integerFormIssues(validator: CompiledValidator, document: unknown, numbers: readonly NumberNote[]): ValidationIssue[] {
  const copy = structuredClone(document);
  const forms = new Map<string, NumberNote['form']>();
  for (const note of numbers) {
    if (replaceAt(copy, note.path, 0.5)) forms.set(note.path, note.form);
  }
  if (forms.size === 0 || validator(copy)) return [];
  const issues: ValidationIssue[] = [];
  const seen = new Set<string>();
  for (const error of validator.errors ?? []) {
    const form = forms.get(error.instancePath);
    if (seen.has(error.instancePath)) continue;
    if (form === undefined || !wantsInteger(error)) continue;
    const message = form === 'beyond_u64' ? 'must be an integer from 0 to 2^64-1' : `must be an integer written without ${form === 'fraction' ? 'a fraction' : 'an exponent'}`;
    seen.add(error.instancePath);
    issues.push({ path: error.instancePath, keyword: 'integer', message });
  }
  return issues;
}

/** The error says the position takes integers only: an integer type, or a const/enum of integers. */
function wantsInteger(error: AjvError): boolean {
  if (error.keyword === 'type') return String(error.params.type).split(',').includes('integer');
  if (error.keyword === 'const') return Number.isInteger(error.params.allowedValue);
  if (error.keyword === 'enum') return (error.params.allowedValues as unknown[]).every((v) => Number.isInteger(v));
  return false;
}

function replaceAt(root: unknown, pointer: string, value: unknown): boolean {
  if (pointer === '') return false;
  const keys = pointer.slice(1).split('/').map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
  let node: unknown = root;
  for (const key of keys.slice(0, -1)) {
    if (typeof node !== 'object' || node === null) return false;
    node = (node as Record<string, unknown>)[key];
  }
  const last = keys[keys.length - 1]!;
  if (typeof node !== 'object' || node === null || !Object.prototype.hasOwnProperty.call(node, last)) return false;
  (node as Record<string, unknown>)[last] = value;
  return true;
}

function semanticIssues(schema: SchemaName, document: unknown): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  if (schema === 'certificate') {
    walk(document, '', (key, _value, path) => {
      if (key.startsWith('critical_') && !KNOWN_CRITICAL_KEYS.has(key)) {
        issues.push({ path, keyword: 'critical', message: 'is an unknown critical_ extension' });
      }
    });
  }
  if (isRecord(document) && document.swarm !== undefined) {
    // Documents swarm wrote use the strict digest form everywhere.
    walk(document, '', (_key, value, path) => {
      if (typeof value === 'string' && value.startsWith('sha256:') && !SWARM_DIGEST_RE.test(value)) {
        issues.push({ path, keyword: 'digest', message: 'must be sha256: and 64 lowercase hex digits' });
      }
    });
  }
  return issues;
}

function walk(value: unknown, path: string, visit: (key: string, value: unknown, path: string) => void): void {
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      // Array items are visited too (key = index), so a digest inside a list is checked.
      visit(String(i), item, `${path}/${i}`);
      walk(item, `${path}/${i}`, visit);
    });
  } else if (isRecord(value)) {
    for (const [key, child] of Object.entries(value)) {
      const childPath = `${path}/${escapePointer(key)}`;
      visit(key, child, childPath);
      walk(child, childPath, visit);
    }
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

function dedupe(issues: ValidationIssue[]): ValidationIssue[] {
  const seen = new Set<string>();
  return issues.filter((issue) => {
    const key = `${issue.path}\0${issue.keyword}\0${issue.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
