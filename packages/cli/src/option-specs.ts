/**
 * What a command's options are, read from the same clipanion option specs the parser uses (so a
 * typo can be matched against the real names and help can show the real defaults), and a wrapper
 * that writes each option's default into its description.
 */
import { Command, type CommandClass } from 'clipanion';
import type { SwarmContext } from './base-command.js';

export interface OptionSpec {
  key: string;
  names: string[];
  description?: string;
  hidden: boolean;
  required: boolean;
  /** The value the command sees when the option is not given. */
  initial: unknown;
}

interface OptionSpecObject {
  definition: (builder: unknown, key: string) => void;
  transformer: (builder: unknown, key: string, state: unknown, context: unknown) => unknown;
}

type Added = { names: string[]; description?: string; hidden?: boolean; required?: boolean };

/** clipanion's option descriptors: the fields of a fresh command instance marked as options. */
function specsOf(command: object): Array<[string, OptionSpecObject]> {
  const out: Array<[string, OptionSpecObject]> = [];
  for (const key of Object.keys(command)) {
    const value = (command as Record<string, unknown>)[key];
    if (typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[Command.isOption]) out.push([key, value as OptionSpecObject]);
  }
  return out;
}

function initialValue(spec: OptionSpecObject, key: string): unknown {
  try {
    return spec.transformer(null, key, { options: [], positionals: [] }, { env: {} });
  } catch {
    return undefined;
  }
}

/** The named options of a command (positionals and rest arguments are left out). */
export function optionSpecs(commandClass: CommandClass<SwarmContext>): OptionSpec[] {
  const command = new (commandClass as unknown as new () => object)();
  const out: OptionSpec[] = [];
  for (const [key, spec] of specsOf(command)) {
    const added: Added[] = [];
    const recorder = {
      addOption: (option: Added) => added.push(option),
      addPositional: () => {},
      addRest: () => {},
      addProxy: () => {},
      addPath: () => {},
      setArity: () => {},
    };
    spec.definition(recorder, key);
    for (const option of added) {
      out.push({ key, names: option.names, description: option.description, hidden: Boolean(option.hidden), required: Boolean(option.required), initial: initialValue(spec, key) });
    }
  }
  return out;
}

/** `mermaid`, `on`; undefined when there is nothing worth showing (no default, off, empty list). */
export function formatDefault(value: unknown): string | undefined {
  if (value === undefined || value === null || value === false || value === '') return undefined;
  if (value === true) return 'on';
  if (Array.isArray(value)) return value.length > 0 ? value.join(', ') : undefined;
  return String(value);
}

/**
 * The command class, with each option's default appended to its description as clipanion
 * registers it, so `--help` and the generated reference show it. A description that already
 * names its default is left alone.
 */
export function showingDefaults(commandClass: CommandClass<SwarmContext>): CommandClass<SwarmContext> {
  const Base = commandClass as unknown as new (...args: unknown[]) => object;
  const Shown = class extends Base {
    constructor(...args: unknown[]) {
      super(...args);
      for (const [key, spec] of specsOf(this)) {
        const shown = formatDefault(initialValue(spec, key));
        if (shown === undefined) continue;
        const definition = spec.definition;
        (this as Record<string, unknown>)[key] = {
          ...spec,
          definition: (builder: Record<string, unknown>, name: string) =>
            definition(
              new Proxy(builder, {
                get(target, property) {
                  const value = Reflect.get(target, property, target);
                  if (property === 'addOption') {
                    return (option: Added) => (value as (o: Added) => void).call(target, { ...option, description: withDefault(option.description, shown) });
                  }
                  return typeof value === 'function' ? value.bind(target) : value;
                },
              }),
              name,
            ),
        };
      }
    }
  };
  return Shown as unknown as CommandClass<SwarmContext>;
}

function withDefault(description: string | undefined, shown: string): string | undefined {
  if (description === undefined) return `Default: ${shown}`;
  if (/\bdefault\b/i.test(description)) return description;
  return `${description} (default: ${shown})`;
}
