import fs from 'node:fs';
import path from 'node:path';
import { SCHEMA_NAMES, SwarmError, isSchemaName, schemaError, validateDocument, type ValidationReport } from '@swarm/core';

/** Reads and validates a contract file; throws SCHEMA_INVALID naming every bad field. */
export function validateFile(schema: string, file: string, cwd: string): ValidationReport & { file: string } {
  if (!isSchemaName(schema)) {
    throw new SwarmError('SCHEMA_UNKNOWN', `unknown schema ${JSON.stringify(schema)}`, {
      details: { known: SCHEMA_NAMES },
      hint: `use one of ${SCHEMA_NAMES.join(', ')}`,
    });
  }
  const document = readJsonFile(path.resolve(cwd, file));
  const report = validateDocument(schema, document);
  if (!report.valid) throw schemaError(file, report);
  return { ...report, file };
}

export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (cause) {
    const errno = (cause as NodeJS.ErrnoException).code;
    throw new SwarmError('FILE_NOT_FOUND', `cannot read ${file}${errno ? ` (${errno})` : ''}`, { details: { path: file }, cause });
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new SwarmError('JSON_PARSE', `${file} is not valid JSON: ${(cause as Error).message}`, { details: { path: file } });
  }
}
