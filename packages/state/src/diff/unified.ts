/**
 * Git's patch format for a list of path changes: `diff --git` headers, mode and index lines,
 * unified hunks with three lines of context, and `Binary files … differ` for what is not shown
 * line by line. `git apply` reads the result; `--stat` summarises it.
 */
import { diffLines, splitLines, type LineDiff } from './lines.js';
import { entryContent, gitBlobId, gitMode, type PathChange, type TreeEntry } from './tree.js';

export type FileStatus = 'added' | 'deleted' | 'modified' | 'mode';

export interface FileDiffSummary {
  path: string;
  status: FileStatus;
  binary: boolean;
  additions: number;
  deletions: number;
}

export interface FileDiff extends FileDiffSummary {
  /** Sizes in bytes, for `--stat` of binary files. */
  oldSize: number;
  newSize: number;
  /** This file's part of the patch. */
  text: string;
}

/** Larger files are reported as changed without a line diff (shown as binary, as git does past its big-file threshold). */
export const MAX_LINE_DIFF_BYTES = 4 * 1024 * 1024;
export const MAX_LINE_DIFF_LINES = 50_000;
const CONTEXT = 3;
/** Git looks for a NUL byte in this many leading bytes to call a file binary. */
const BINARY_PROBE_BYTES = 8000;
/** Git's hunk-header function context is at most this many bytes. */
const FUNC_LINE_BYTES = 80;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Whether content is shown line by line: no NUL (like git), valid UTF-8 (the patch is text), not too large. */
function isText(content: Buffer): boolean {
  if (content.length > MAX_LINE_DIFF_BYTES) return false;
  if (content.subarray(0, BINARY_PROBE_BYTES).includes(0)) return false;
  try {
    utf8.decode(content);
    return true;
  } catch {
    return false;
  }
}

const ESCAPES: Record<number, string> = { 7: '\\a', 8: '\\b', 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r', 0x22: '\\"', 0x5c: '\\\\' };

/** Git's C-style quoting of a path (core.quotePath on): control bytes, `"`, `\` and non-ASCII. */
export function quotePath(name: string): string {
  const bytes = Buffer.from(name);
  if (!bytes.some((c) => c < 0x20 || c === 0x22 || c === 0x5c || c >= 0x7f)) return name;
  let out = '"';
  for (const c of bytes) {
    if (ESCAPES[c] !== undefined) out += ESCAPES[c];
    else if (c < 0x20 || c >= 0x7f) out += `\\${c.toString(8).padStart(3, '0')}`;
    else out += String.fromCharCode(c);
  }
  return `${out}"`;
}

/** Splits changes into git's file patches: a file that became a symlink (or back) is a deletion and an addition. */
export function diffChanges(changes: PathChange[]): FileDiff[] {
  const files: FileDiff[] = [];
  for (const change of changes) {
    const { before, after } = change;
    if (before && after && before.kind !== after.kind) {
      files.push(diffFile(change.path, before, undefined), diffFile(change.path, undefined, after));
    } else files.push(diffFile(change.path, before, after));
  }
  return files;
}

function diffFile(path: string, before: TreeEntry | undefined, after: TreeEntry | undefined): FileDiff {
  const oldContent = before ? entryContent(before) : Buffer.alloc(0);
  const newContent = after ? entryContent(after) : Buffer.alloc(0);
  const oldMode = before ? gitMode(before) : undefined;
  const newMode = after ? gitMode(after) : undefined;
  const contentChanged = !before || !after || !oldContent.equals(newContent);
  const status: FileStatus = !before ? 'added' : !after ? 'deleted' : contentChanged ? 'modified' : 'mode';
  const a = quotePath(`a/${path}`);
  const b = quotePath(`b/${path}`);
  const lines = [`diff --git ${a} ${b}`];
  if (!before) lines.push(`new file mode ${newMode}`);
  else if (!after) lines.push(`deleted file mode ${oldMode}`);
  else if (oldMode !== newMode) lines.push(`old mode ${oldMode}`, `new mode ${newMode}`);
  const result: FileDiff = { path, status, binary: false, additions: 0, deletions: 0, oldSize: oldContent.length, newSize: newContent.length, text: '' };
  if (contentChanged) {
    const oldId = before ? gitBlobId(oldContent).slice(0, 7) : '0000000';
    const newId = after ? gitBlobId(newContent).slice(0, 7) : '0000000';
    lines.push(`index ${oldId}..${newId}${before && after && oldMode === newMode ? ` ${oldMode}` : ''}`);
    const oldLines = isText(oldContent) ? splitLines(oldContent) : undefined;
    const newLines = isText(newContent) ? splitLines(newContent) : undefined;
    const labelA = before ? a : '/dev/null';
    const labelB = after ? b : '/dev/null';
    if (!oldLines || !newLines || oldLines.length > MAX_LINE_DIFF_LINES || newLines.length > MAX_LINE_DIFF_LINES) {
      result.binary = true;
      lines.push(`Binary files ${labelA} and ${labelB} differ`);
    } else if (oldLines.length > 0 || newLines.length > 0) {
      // Git puts a tab after a name that holds a space, so the name's end is unambiguous.
      lines.push(`--- ${labelA}${before && path.includes(' ') ? '\t' : ''}`, `+++ ${labelB}${after && path.includes(' ') ? '\t' : ''}`);
      const lineDiff = diffLines(oldLines, newLines);
      result.deletions = lineDiff.deleted.reduce((n, f) => n + f, 0);
      result.additions = lineDiff.inserted.reduce((n, f) => n + f, 0);
      lines.push(...renderHunks(oldLines, newLines, lineDiff));
    }
  }
  result.text = `${lines.join('\n')}\n`;
  return result;
}

interface ChangeGroup {
  i: number;
  deleted: number;
  j: number;
  inserted: number;
}

/** Runs of deleted old lines and inserted new lines between matched ones. */
function changeGroups(diff: LineDiff): ChangeGroup[] {
  const groups: ChangeGroup[] = [];
  const n = diff.deleted.length;
  const m = diff.inserted.length;
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if ((i < n && diff.deleted[i]) || (j < m && diff.inserted[j])) {
      const group = { i, deleted: 0, j, inserted: 0 };
      while (i < n && diff.deleted[i]) i++;
      while (j < m && diff.inserted[j]) j++;
      group.deleted = i - group.i;
      group.inserted = j - group.j;
      groups.push(group);
    } else {
      i++;
      j++;
    }
  }
  return groups;
}

/** The hunks of one file: groups closer than twice the context share a hunk. */
export function renderHunks(oldLines: Buffer[], newLines: Buffer[], diff: LineDiff): string[] {
  const groups = changeGroups(diff);
  const out: string[] = [];
  const line = (prefix: string, lines: Buffer[], index: number) => {
    const text = lines[index]!.toString('utf8');
    if (text.endsWith('\n')) out.push(prefix + text.slice(0, -1));
    else out.push(prefix + text, '\\ No newline at end of file');
  };
  for (let g = 0; g < groups.length; ) {
    let last = g;
    while (last + 1 < groups.length && groups[last + 1]!.i - (groups[last]!.i + groups[last]!.deleted) <= 2 * CONTEXT) last++;
    const first = groups[g]!;
    const end = groups[last]!;
    const lead = Math.min(CONTEXT, first.i, first.j);
    const oldStart = first.i - lead;
    const newStart = first.j - lead;
    const trail = Math.min(CONTEXT, oldLines.length - (end.i + end.deleted), newLines.length - (end.j + end.inserted));
    const oldCount = end.i + end.deleted + trail - oldStart;
    const newCount = end.j + end.inserted + trail - newStart;
    out.push(`@@ -${range(oldStart, oldCount)} +${range(newStart, newCount)} @@${funcContext(oldLines, oldStart)}`);
    let i = oldStart;
    let j = newStart;
    for (let k = g; k <= last; k++) {
      const group = groups[k]!;
      for (; i < group.i; i++, j++) line(' ', oldLines, i);
      for (; i < group.i + group.deleted; i++) line('-', oldLines, i);
      for (; j < group.j + group.inserted; j++) line('+', newLines, j);
    }
    for (let t = 0; t < trail; t++, i++) line(' ', oldLines, i);
    g = last + 1;
  }
  return out;
}

/** `start,count` of a hunk side; git writes no count of 1, and an empty side starts at the line before. */
function range(start: number, count: number): string {
  const shown = count === 0 ? start : start + 1;
  return count === 1 ? `${shown}` : `${shown},${count}`;
}

/** Git's default function context: the last old line before the hunk starting with a letter, `_` or `$`. */
function funcContext(oldLines: Buffer[], hunkStart: number): string {
  for (let l = hunkStart - 1; l >= 0; l--) {
    const rec = oldLines[l]!;
    const c = rec[0];
    if (c === undefined || !((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x24)) continue;
    let bytes = rec.subarray(0, FUNC_LINE_BYTES);
    let len = bytes.length;
    while (len > 0 && isSpace(bytes[len - 1]!)) len--;
    bytes = bytes.subarray(0, len);
    // A cut inside a UTF-8 sequence is dropped rather than shown as a broken character.
    while (bytes.length > 0 && !validUtf8(bytes)) bytes = bytes.subarray(0, -1);
    return ` ${bytes.toString('utf8')}`;
  }
  return '';
}

function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

function validUtf8(bytes: Buffer): boolean {
  try {
    utf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Git's `--stat`: one line per file (name | changes and a +/- bar), then the totals. */
export function renderStat(files: FileDiff[], width = 80): string {
  if (files.length === 0) return '';
  const names = files.map((f) => quotePath(f.path));
  const nameWidth = Math.max(...names.map((n) => n.length));
  const counts = files.map((f) => (f.binary ? 'Bin' : String(f.additions + f.deletions)));
  const countWidth = Math.max(...counts.map((c) => c.length));
  const maxChange = Math.max(...files.map((f) => (f.binary ? 0 : f.additions + f.deletions)));
  const graphWidth = Math.max(10, width - nameWidth - countWidth - 6);
  const scale = (n: number) => (maxChange <= graphWidth || n === 0 ? n : Math.max(1, Math.round((n * graphWidth) / maxChange)));
  const lines = files.map((f, index) => {
    const name = names[index]!.padEnd(nameWidth);
    if (f.binary) return ` ${name} | Bin ${f.oldSize} -> ${f.newSize} bytes`;
    const bar = `${'+'.repeat(scale(f.additions))}${'-'.repeat(scale(f.deletions))}`;
    return ` ${name} | ${counts[index]!.padStart(countWidth)}${bar ? ` ${bar}` : ''}`;
  });
  const insertions = files.reduce((n, f) => n + f.additions, 0);
  const deletions = files.reduce((n, f) => n + f.deletions, 0);
  const parts = [`${files.length} file${files.length === 1 ? '' : 's'} changed`];
  if (insertions > 0 || deletions === 0) parts.push(`${insertions} insertion${insertions === 1 ? '' : 's'}(+)`);
  if (deletions > 0 || insertions === 0) parts.push(`${deletions} deletion${deletions === 1 ? '' : 's'}(-)`);
  lines.push(` ${parts.join(', ')}`);
  return `${lines.join('\n')}\n`;
}
