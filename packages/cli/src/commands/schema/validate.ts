import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class SchemaValidateCommand extends BaseCommand {
  static override paths = [['schema', 'validate']];

  static override usage = Command.Usage({
    category: 'Contracts',
    description: 'Validate a JSON document against one of the swarm contracts',
    details: `
      Checks the document against \`schemas/<name>.schema.json\` plus the checks a schema cannot
      express (unknown \`critical_*\` keys in certificates, blank strings, swarm's digest form).
      Every bad field is reported at once. Exits 0 when valid and 2 when not.
    `,
    examples: [
      ['Validate a certificate', '$0 schema validate --schema certificate --file .swarm/runs/r1/certificate.json'],
      ['Machine-readable report', '$0 schema validate --schema node --file node.json --json'],
    ],
  });

  schema = Option.String('--schema', {
    required: true,
    description: 'Contract name: capability, certificate, ledger, next_tokens, node, output, policy, result, ticket',
  });
  file = Option.String('--file', { required: true, description: 'The JSON file to validate' });

  async run(): Promise<number> {
    const { validateFile } = await import('../../schema/validate-file.js');
    const report = validateFile(this.schema, this.file, this.cwd);
    this.output.ok(`${this.file} is a valid ${report.schema}`, report);
    return 0;
  }
}
