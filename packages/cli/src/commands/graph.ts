import { Command, Option } from 'clipanion';
import { SwarmError } from '@swarm/core';
import { BaseCommand } from '../base-command.js';

export class GraphCommand extends BaseCommand {
  static override paths = [['graph']];

  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Print the node DAG as Mermaid, Graphviz dot or JSON',
    examples: [
      ['Mermaid (paste into Markdown)', '$0 graph'],
      ['Render with Graphviz', '$0 graph --format dot | dot -Tsvg > dag.svg'],
    ],
  });

  format = Option.String('--format', 'mermaid', { description: 'mermaid, dot or json' });

  async run(): Promise<number> {
    if (!['mermaid', 'dot', 'json'].includes(this.format)) {
      throw new SwarmError('INVALID_ARGUMENT', `--format must be mermaid, dot or json, not ${JSON.stringify(this.format)}`);
    }
    const { loadGraph, renderGraph } = await import('@swarm/state');
    const graph = await loadGraph({ cwd: this.cwd, env: this.env });
    const text = renderGraph(graph, this.format as 'mermaid' | 'dot' | 'json');
    this.output.ok(`${graph.nodes.length} node(s)`, { format: this.format, graph, text }, text);
    return 0;
  }
}
