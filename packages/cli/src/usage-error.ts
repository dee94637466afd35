/**
 * Turns a command line clipanion could not parse into a `USAGE` error that says what was wrong
 * and what was probably meant: the closest commands for an unknown command, the closest options
 * for an unknown option. The suggestions are in `details.suggestions` and in the message.
 */
import type { CommandClass } from 'clipanion';
import { SwarmError } from '@swarm/core';
import type { SwarmContext } from './base-command.js';
import { GLOBAL_OPTION_NAMES } from './help.js';
import { optionSpecs } from './option-specs.js';
import { suggestCommands, suggestOptions } from './suggest.js';

/** Global flags that take no value, skipped when looking for the command words. */
const LEADING_FLAGS = new Set(['--json', '--quiet', '-q', '--verbose', '-v', '--no-color']);

export function usageError(argv: readonly string[], parseError: unknown, commands: ReadonlyArray<CommandClass<SwarmContext>>): SwarmError {
  let start = 0;
  while (start < argv.length && LEADING_FLAGS.has(argv[start]!)) start += 1;
  const rest = argv.slice(start);
  const leading = rest.findIndex((token) => token.startsWith('-'));
  const words = leading === -1 ? [...rest] : rest.slice(0, leading);
  const paths = commands.flatMap((command) => command.paths ?? []);

  // The longest registered path the command line starts with: a known command, bad arguments.
  const known = commands
    .flatMap((command) => (command.paths ?? []).map((path) => ({ command, path })))
    .filter(({ path }) => path.length > 0 && path.length <= words.length && path.every((word, i) => words[i] === word))
    .sort((a, b) => b.path.length - a.path.length)[0];

  if (!known) {
    const suggestions = suggestCommands(words, paths).map((path) => `swarm ${path.join(' ')}`);
    const typed = words.length > 0 ? `swarm ${words.join(' ')}` : `swarm ${rest.join(' ')}`;
    const message =
      suggestions.length === 0
        ? `unknown command \`${typed}\``
        : `unknown command \`${typed}\`; did you mean ${suggestions.length === 1 ? '' : 'one of '}${suggestions.map((s) => `\`${s}\``).join(', ')}?`;
    return new SwarmError('USAGE', message, {
      hint: 'run `swarm help` for the list of commands',
      details: { input: [...argv], suggestions },
    });
  }

  const command = `swarm ${known.path.join(' ')}`;
  const specs = optionSpecs(known.command);
  const names = [...specs.flatMap((o) => o.names), ...GLOBAL_OPTION_NAMES, '-h', '--help'];
  // A boolean option `--x` is also accepted as `--no-x`.
  const accepted = new Set([...names, ...names.filter((n) => n.startsWith('--')).map((n) => `--no-${n.slice(2)}`)]);
  const unknown = argv.slice(start + known.path.length).filter((token, i, all) => {
    if (!token.startsWith('-') || token === '-' || all.slice(0, i).includes('--')) return false;
    return token !== '--' && !accepted.has(token.split('=')[0]!);
  });
  if (unknown.length > 0) {
    const typed = unknown[0]!.split('=')[0]!;
    const suggestions = suggestOptions(typed, names.filter((n) => n.startsWith('--')));
    const message =
      suggestions.length === 0
        ? `${command} has no option ${typed}`
        : `${command} has no option ${typed}; did you mean ${suggestions.length === 1 ? '' : 'one of '}${suggestions.join(', ')}?`;
    return new SwarmError('USAGE', message, {
      hint: `run \`swarm help ${known.path.join(' ')}\` for its options`,
      details: { input: [...argv], command, option: typed, suggestions },
    });
  }

  // Known command and options, wrong arguments: clipanion's reason, or the required options missing.
  const given = new Set(argv.map((token) => token.split('=')[0]!));
  const missing = specs.filter((o) => o.required && !o.names.some((n) => given.has(n))).map((o) => o.names.find((n) => n.startsWith('--')) ?? o.names[0]!);
  const reason = parseReason(parseError) ?? (missing.length > 0 ? `missing ${missing.join(', ')}` : undefined);
  const usage = candidateUsage(parseError);
  return new SwarmError('USAGE', `invalid arguments for ${command}${reason ? `: ${reason}` : ''}`, {
    hint: usage ? `usage: ${usage} (\`swarm help ${known.path.join(' ')}\` for more)` : `run \`swarm help ${known.path.join(' ')}\` for its usage`,
    details: { input: [...argv], command, missing, suggestions: [] },
  });
}

function candidateUsage(error: unknown): string | undefined {
  const candidates = (error as { candidates?: Array<{ usage?: unknown }> } | null)?.candidates;
  const usage = Array.isArray(candidates) && candidates.length === 1 ? candidates[0]!.usage : undefined;
  return typeof usage === 'string' ? usage.replace(/ #\d+/g, ' …') : undefined;
}

function parseReason(error: unknown): string | undefined {
  const first = (error instanceof Error ? error.message : '').split('\n')[0]?.trim() ?? '';
  // Without a shared reason clipanion only says it found no command, which is not news here.
  return first === '' || first.startsWith('Command not found') ? undefined : first.replace(/\.$/, '');
}
