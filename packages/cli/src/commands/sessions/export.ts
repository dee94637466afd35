import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class SessionsExportCommand extends BaseCommand {
  static override paths = [['sessions', 'export']];

  static override usage = Command.Usage({
    category: 'Sessions',
    description: 'Write one agent session out as JSONL or Markdown',
    details: `
      \`--format jsonl\` writes the session's transcript lines exactly as archived (secrets granted
      to the step redacted), in order; \`--format md\` a readable document. To stdout, or to
      \`--out <file>\` (which must not exist).
    `,
    examples: [
      ['As the agent wrote it', '$0 sessions export 6f1c2a --format jsonl --out session.jsonl'],
      ['As a document', '$0 sessions export 6f1c2a --format md > session.md'],
    ],
  });

  id = Option.String({ required: true, name: 'session-id' });
  format = Option.String('--format', 'md', { description: 'jsonl (lossless) or md' });
  node = Option.String('--node', { description: 'Read the session from this node' });
  out = Option.String('--out', { description: 'Write to this file instead of stdout' });

  async run(): Promise<number> {
    const { SwarmError, fsError } = await import('@swarm/core');
    const { showSession, renderSessionExport } = await import('@swarm/state');
    if (this.format !== 'jsonl' && this.format !== 'md') throw new SwarmError('INVALID_ARGUMENT', '--format must be jsonl or md');
    const detail = await showSession({ cwd: this.cwd, env: this.env, id: this.id, node: this.node });
    const text = renderSessionExport(detail, this.format);
    if (this.out === undefined) {
      if (this.output.options.json) this.output.ok(`session ${detail.session.session_id}`, { session_id: detail.session.session_id, format: this.format, content: text });
      else this.output.options.stdout.write(text);
      return 0;
    }
    const file = path.resolve(this.cwd, this.out);
    try {
      fs.writeFileSync(file, text, { flag: 'wx', mode: 0o600 });
    } catch (cause) {
      throw fsError('IO_WRITE_FAILED', file, cause);
    }
    this.output.ok(`wrote session ${detail.session.session_id} to ${file}`, { session_id: detail.session.session_id, format: this.format, out: file });
    return 0;
  }
}
