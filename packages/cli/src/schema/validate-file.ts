import fs from 'node:fs';
import path from 'node:path';
import { SCHEMA_NAMES, SwarmError, isSchemaName, parseStrictJson, schemaError, validateDocument, type NumberNote, type ValidationReport } from '@swarm/core';

/** Reads and validates a contract file; throws SCHEMA_INVALID naming every bad field. */
export function validateFile(schema: string, file: string, cwd: string): ValidationReport & { file: string } {
  if (!isSchemaName(schema)) {
    throw new SwarmError('SCHEMA_UNKNOWN', `unknown schema ${JSON.stringify(schema)}`, {
      details: { known: SCHEMA_NAMES },
      hint: `use one of ${SCHEMA_NAMES.join(', ')}`,
    });
  }
  const { value, numbers } = readJsonFile(path.resolve(cwd, file));
  const report = validateDocument(schema, value, { numbers });
  if (!report.valid) throw schemaError(file, report);
  return { ...report, file };
}

/** Parsed with core's strict parser, the one `verify` uses, so both accept and reject the same bytes. */
export function readJsonFile(file: string): { value: unknown; numbers: NumberNote[] } {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (cause) {
    const errno = (cause as NodeJS.ErrnoException).code;
    throw new SwarmError('FILE_NOT_FOUND', `cannot read ${file}${errno ? ` (${errno})` : ''}`, { details: { path: file }, cause });
  }
  const parsed = parseStrictJson(bytes);
  if (!parsed.ok) throw new SwarmError('JSON_PARSE', `${file} ${parsed.reason}`, { details: { path: file, problem: parsed.problem } });
  return { value: parsed.value, numbers: parsed.numbers };
}
