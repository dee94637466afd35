/**
 * The one parser for untrusted JSON documents (contracts, certificates, envelopes). On top of
 * JSON.parse it rejects what other implementations refuse: a UTF-8 BOM, invalid UTF-8 and string
 * escapes that leave a lone surrogate. It also notes every number written with a fraction or an
 * exponent, or as an integer beyond u64, because JSON.parse turns `1.0` and `1` into the same value
 * and schema validation must still reject `1.0` where an integer is required.
 */

/** How a number was written, when that matters for an integer field. */
export type NumberForm = 'fraction' | 'exponent' | 'beyond_u64';

export interface NumberNote {
  /** JSON Pointer of the number. */
  path: string;
  form: NumberForm;
}

export type JsonProblem = 'utf8' | 'bom' | 'syntax' | 'lone_surrogate';

export type StrictJson =
  | { ok: true; value: unknown; numbers: NumberNote[] }
  | { ok: false; problem: JsonProblem; reason: string };

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const U64_MAX_DIGITS = '18446744073709551615';
const NUMBER_RE = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;

/** Parses bytes (which must be UTF-8) or already decoded text. */
export function parseStrictJson(input: Uint8Array | string): StrictJson {
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else {
    try {
      text = utf8.decode(input);
    } catch {
      return { ok: false, problem: 'utf8', reason: 'is not valid UTF-8' };
    }
  }
  if (text.charCodeAt(0) === 0xfeff) return { ok: false, problem: 'bom', reason: 'starts with a byte order mark (not allowed in JSON documents)' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, problem: 'syntax', reason: `is not valid JSON (${(error as Error).message})` };
  }
  const scan = scanTokens(text);
  if (scan.loneSurrogateAt !== null) {
    return { ok: false, problem: 'lone_surrogate', reason: `has a string with an unpaired surrogate at offset ${scan.loneSurrogateAt}` };
  }
  return { ok: true, value, numbers: scan.numbers };
}

interface Frame {
  path: string;
  array: boolean;
  count: number;
}

/**
 * Walks text that JSON.parse already accepted, so only the structure is tracked (no error
 * recovery). Iterative, so deep nesting cannot overflow the stack.
 */
function scanTokens(text: string): { numbers: NumberNote[]; loneSurrogateAt: number | null } {
  const numbers: NumberNote[] = [];
  const frames: Frame[] = [];
  let key = '';
  let expectKey = false;
  let i = 0;
  const valuePath = (): string => {
    const top = frames[frames.length - 1];
    if (!top) return '';
    return top.array ? `${top.path}/${top.count}` : `${top.path}/${escapePointer(key)}`;
  };
  const afterValue = (): void => {
    const top = frames[frames.length - 1];
    if (top?.array) top.count++;
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === '{' || c === '[') {
      frames.push({ path: valuePath(), array: c === '[', count: 0 });
      expectKey = c === '{';
      i++;
    } else if (c === '}' || c === ']') {
      frames.pop();
      afterValue();
      i++;
    } else if (c === ',') {
      expectKey = frames[frames.length - 1]?.array === false;
      i++;
    } else if (c === '"') {
      const end = stringEnd(text, i);
      if (end.loneSurrogateAt !== null) return { numbers, loneSurrogateAt: end.loneSurrogateAt };
      if (expectKey) {
        key = JSON.parse(text.slice(i, end.index + 1)) as string;
        expectKey = false;
      } else {
        afterValue();
      }
      i = end.index + 1;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      NUMBER_RE.lastIndex = i;
      const match = NUMBER_RE.exec(text)!;
      const form = numberForm(match);
      if (form !== null) numbers.push({ path: valuePath(), form });
      afterValue();
      i += match[0].length;
    } else if (c === 't' || c === 'n') {
      afterValue();
      i += 4;
    } else if (c === 'f') {
      afterValue();
      i += 5;
    } else {
      // Whitespace and ':'.
      i++;
    }
  }
  return { numbers, loneSurrogateAt: null };
}

function numberForm(match: RegExpExecArray): NumberForm | null {
  if (match[2] !== undefined) return 'fraction';
  if (match[3] !== undefined) return 'exponent';
  const digits = match[1]!;
  if (digits.length > U64_MAX_DIGITS.length || (digits.length === U64_MAX_DIGITS.length && digits > U64_MAX_DIGITS)) return 'beyond_u64';
  return null;
}

/** Index of the closing quote of the string starting at `start`, checking surrogate pairs. */
function stringEnd(text: string, start: number): { index: number; loneSurrogateAt: number | null } {
  let i = start + 1;
  // Offset of a high surrogate still waiting for its low half.
  let pendingHigh: number | null = null;
  for (;;) {
    const c = text.charCodeAt(i);
    let unit: number | null = null;
    let width = 1;
    if (c === 0x22) {
      return { index: i, loneSurrogateAt: pendingHigh };
    } else if (c === 0x5c) {
      const escape = text[i + 1];
      if (escape === 'u') {
        unit = parseInt(text.slice(i + 2, i + 6), 16);
        width = 6;
      } else {
        width = 2;
      }
    } else {
      unit = c;
    }
    const isHigh = unit !== null && unit >= 0xd800 && unit <= 0xdbff;
    const isLow = unit !== null && unit >= 0xdc00 && unit <= 0xdfff;
    if (pendingHigh !== null && !isLow) return { index: i, loneSurrogateAt: pendingHigh };
    if (isLow && pendingHigh === null) return { index: i, loneSurrogateAt: i };
    pendingHigh = isHigh ? i : null;
    i += width;
  }
}

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}
