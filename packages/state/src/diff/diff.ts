/** `swarm diff`: a node's workspace against its parent (or another base), as a git patch. */
import './errors.js';
import { withNodePair, type StoreCall } from './node-trees.js';
import { compareTrees, partitionChanges } from './tree.js';
import { diffChanges, renderStat, type FileDiffSummary } from './unified.js';

export interface NodeDiff {
  node_id: string;
  base_node_id: string;
  files: FileDiffSummary[];
  patch: string;
  stat: string;
  /** Changed paths inside `.git`, left out of the patch. */
  ignored: string[];
}

export async function diffNodes(options: StoreCall & { node: string; base?: string }): Promise<NodeDiff> {
  return withNodePair({ ...options, defaultBase: 'parent' }, ({ node, base, nodeTree, baseTree }) => {
    const { changes, ignored } = partitionChanges(compareTrees(baseTree, nodeTree));
    const files = diffChanges(changes);
    return {
      node_id: node.node_id,
      base_node_id: base.node_id,
      files: files.map(({ path, status, binary, additions, deletions }) => ({ path, status, binary, additions, deletions })),
      patch: files.map((f) => f.text).join(''),
      stat: renderStat(files),
      ignored,
    };
  });
}
