/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no insignificant whitespace, numbers and
 * strings as ECMAScript serialises them (the JCS rules, RFC 8785). The same value always gives the
 * same bytes, which is what makes certificates and manifests hashable.
 */
import { SwarmError } from './errors.js';

export function canonicalize(value: unknown): string {
  return write(value, '');
}

export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalize(value), 'utf8');
}

function write(value: unknown, path: string): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) {
        throw new SwarmError('CANONICAL_JSON_UNSUPPORTED', `non-finite number at ${path || '/'}`, { path: path || '/' });
      }
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) {
        // Index every slot: an undefined element or a hole has no JSON form and is an error.
        const items: string[] = [];
        for (let i = 0; i < value.length; i++) items.push(write(value[i], `${path}/${i}`));
        return `[${items.join(',')}]`;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new SwarmError('CANONICAL_JSON_UNSUPPORTED', `unsupported object at ${path || '/'}`, { path: path || '/' });
      }
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record)
        .filter((k) => record[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${write(record[k], `${path}/${k}`)}`).join(',')}}`;
    }
    default:
      throw new SwarmError('CANONICAL_JSON_UNSUPPORTED', `unsupported ${typeof value} at ${path || '/'}`, { path: path || '/' });
  }
}
