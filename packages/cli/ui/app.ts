// The web UI's script (built by scripts/bundle.mjs with esbuild; no CDN). Pages by hash:
// #/ the DAG, #/node/<id> a node, #/runs the runs, #/compare?a=&b= two nodes.
import dagre from '@dagrejs/dagre';

interface GraphNode {
  node_id: string;
  parent_node_id: string | null;
  kind: string;
  status: string;
  run_id: string | null;
  label: string | null;
}
interface Run {
  run_id: string;
  state: string;
  status: string;
  node_id: string | null;
  parent_node_id: string | null;
  branches: string[];
  step: string;
  uptime_ms: number | null;
  egress: { allowed: number; denied: number };
  attempt: number | null;
  restart_policy: string | null;
}
interface Graph {
  nodes: GraphNode[];
  branches: Array<{ name: string; node_id: string }>;
  runs: Run[];
}

const token = new URLSearchParams(location.search).get('token') ?? '';
const main = document.getElementById('main')!;
let graph: Graph | null = null;

function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  return fetch(path, { ...init, headers: { ...(init.headers ?? {}), 'X-Swarm-Token': token } }).then(async (r) => {
    if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
    return r.json() as Promise<T>;
  });
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Array<Node | string | null>): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) if (c !== null) e.append(c);
  return e;
}

function svg(tag: string, attrs: Record<string, string | number> = {}): SVGElement {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

const COLOURS: Record<string, string> = { succeeded: '#1f9d55', failed: '#cc1f1a', running: '#2779bd', root: '#606f7b', abandoned: '#b8c2cc' };

function table(head: string[], rows: Array<Array<Node | string>>): HTMLTableElement {
  return el('table', {}, el('thead', {}, el('tr', {}, ...head.map((h) => el('th', {}, h)))), el('tbody', {}, ...rows.map((r) => el('tr', {}, ...r.map((c) => el('td', {}, c))))));
}

function secs(ms: number | null): string {
  return ms === null ? '-' : `${(ms / 1000).toFixed(1)} s`;
}

// ---------------------------------------------------------------------------------------------

function renderDag(g: Graph): void {
  const layout = new dagre.graphlib.Graph();
  layout.setGraph({ rankdir: 'TB', nodesep: 24, ranksep: 36, marginx: 12, marginy: 12 });
  layout.setDefaultEdgeLabel(() => ({}));
  const labels = new Map<string, string[]>();
  for (const b of g.branches) labels.set(b.node_id, [...(labels.get(b.node_id) ?? []), b.name.replace(/^branch:/, '')]);
  const shown: Array<{ id: string; text: string; status: string; href: string | null }> = [];
  for (const n of g.nodes) {
    const branch = labels.get(n.node_id);
    shown.push({ id: n.node_id, text: `${n.node_id}${branch ? `  [${branch.join(', ')}]` : ''}`, status: n.kind === 'root' ? 'root' : n.status, href: `#/node/${encodeURIComponent(n.node_id)}` });
  }
  // A live run has no node yet: it shows as its own box below the node it runs from.
  for (const r of g.runs) {
    if (r.state === 'running' && r.node_id === null) shown.push({ id: `run:${r.run_id}`, text: `run ${r.run_id} (running)`, status: 'running', href: '#/runs' });
  }
  for (const s of shown) layout.setNode(s.id, { width: Math.max(120, s.text.length * 7.4 + 20), height: 30 });
  for (const n of g.nodes) if (n.parent_node_id) layout.setEdge(n.parent_node_id, n.node_id);
  for (const r of g.runs) if (r.state === 'running' && r.node_id === null && r.parent_node_id) layout.setEdge(r.parent_node_id, `run:${r.run_id}`);
  dagre.layout(layout);
  const size = layout.graph() as { width?: number; height?: number };
  const root = svg('svg', { width: size.width ?? 200, height: size.height ?? 100, id: 'dag' });
  for (const e of layout.edges()) {
    const points = layout.edge(e).points as Array<{ x: number; y: number }>;
    root.append(svg('path', { class: 'edge', d: points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x},${p.y}`).join(' ') }));
  }
  for (const s of shown) {
    const box = layout.node(s.id) as { x: number; y: number; width: number; height: number };
    const group = svg('g', { class: 'node', 'data-node': s.id, 'data-status': s.status, transform: `translate(${box.x - box.width / 2},${box.y - box.height / 2})` });
    const colour = COLOURS[s.status] ?? '#606f7b';
    group.append(svg('rect', { width: box.width, height: box.height, fill: '#fff', stroke: colour }));
    const text = svg('text', { x: 10, y: 19, fill: colour });
    text.textContent = s.text;
    group.append(text);
    if (s.href) {
      const link = svg('a', { href: s.href });
      link.append(group);
      root.append(link);
    } else root.append(group);
  }
  main.replaceChildren(el('p', { class: 'muted' }, `${g.nodes.length} nodes, ${g.branches.filter((b) => b.name.startsWith('branch:')).length} branches, ${g.runs.filter((r) => r.state === 'running').length} running`), root);
}

async function renderNode(id: string): Promise<void> {
  main.replaceChildren('loading…');
  type Detail = {
    node: GraphNode;
    run: Run | null;
    result: Record<string, unknown> | null;
    policy: Record<string, unknown> | null;
    certificate: { verified: boolean; checks: Array<{ name: string; status: string; reason: string }> } | null;
    egress: Array<{ time: string; host: string; port: number; decision: string; reason: string }>;
    log: string | null;
    sessions: Array<{ session_id?: string; agent?: string; turns?: number }>;
    diff: { files?: Array<{ path: string; status: string; added: number; removed: number }>; patch?: string; error?: string } | null;
  };
  const d = await api<Detail>(`/api/node/${encodeURIComponent(id)}`);
  const step = (d.run?.step ?? (d.result as { step?: unknown } | null)?.step ?? '-') as string;
  const checks = d.certificate
    ? el(
        'div',
        { id: 'checks' },
        el('p', {}, d.certificate.verified ? 'certificate verified' : 'certificate NOT verified'),
        table(
          ['check', 'result', ''],
          d.certificate.checks.map((c) => [c.name, el('span', { class: `check-${c.status}` }, c.status), c.reason]),
        ),
      )
    : el('p', { id: 'checks' }, 'no certificate (a root or imported node)');
  const prompt = (d.policy as { prompt_sha256?: string } | null)?.prompt_sha256;
  main.replaceChildren(
    el('h2', {}, d.node.node_id),
    table(
      ['field', 'value'],
      [
        ['status', el('span', { class: `status-${d.node.status}` }, d.node.status)],
        ['kind', d.node.kind],
        ['parent', d.node.parent_node_id ?? '-'],
        ['run', d.node.run_id ?? '-'],
        ['step', step],
        ['prompt', prompt ?? '-'],
      ],
    ),
    el('h3', {}, 'Certificate checks'),
    checks,
    el('h3', {}, 'Policy'),
    el('pre', {}, d.policy ? JSON.stringify(d.policy, null, 2) : '-'),
    el('h3', {}, 'Egress decisions'),
    d.egress.length === 0 ? el('p', { class: 'muted' }, 'none') : table(['time', 'host', 'decision', 'reason'], d.egress.map((e) => [e.time, `${e.host}:${e.port}`, e.decision, e.reason])),
    el('h3', {}, 'Agent sessions'),
    d.sessions.length === 0 ? el('p', { class: 'muted' }, 'none') : el('pre', {}, JSON.stringify(d.sessions, null, 2)),
    el('h3', {}, 'Step log'),
    el('pre', { id: 'step-log' }, d.log ?? '(no log)'),
    el('h3', {}, 'Diff against its parent'),
    d.diff?.files ? el('div', {}, table(['file', 'status', '+', '-'], d.diff.files.map((f) => [f.path, f.status, String(f.added), String(f.removed)])), el('pre', {}, d.diff.patch ?? '')) : el('p', { class: 'muted' }, d.diff?.error ?? 'no parent'),
  );
}

let followTimer: number | undefined;
/** The runs page's log: one element and one follower, kept when the table is redrawn. */
const logBox = el('pre', { id: 'run-log' }, 'pick a run to follow its log');
let followed: string | null = null;
/** Stop/kill requests sent and not yet answered by the run ending (no double clicks). */
const pending = new Set<string>();

function follow(id: string): void {
  if (followed === id) return;
  clearTimeout(followTimer);
  followed = id;
  let offset = 0;
  logBox.textContent = '';
  const tick = async () => {
    if (followed !== id) return;
    const chunk = await api<{ offset: number; text: string; finished: boolean }>(`/api/log/${encodeURIComponent(id)}?offset=${offset}`).catch(() => null);
    if (followed !== id) return;
    if (chunk) {
      offset = chunk.offset;
      logBox.append(chunk.text);
      if (chunk.finished) return;
    }
    followTimer = window.setTimeout(tick, 500);
  };
  void tick();
}

async function renderRuns(): Promise<void> {
  const { runs } = await api<{ runs: Run[] }>('/api/runs');
  const action = (id: string, what: 'stop' | 'kill') => {
    const key = `${id}/${what}`;
    const b = el('button', pending.has(key) ? { 'data-action': what, 'data-run': id, disabled: '' } : { 'data-action': what, 'data-run': id }, what);
    b.addEventListener('click', async () => {
      if (pending.has(key)) return;
      pending.add(key);
      b.setAttribute('disabled', '');
      await api(`/api/runs/${encodeURIComponent(id)}/${what}`, { method: 'POST' }).catch((e: Error) => {
        pending.delete(key);
        alert(e.message);
      });
    });
    return b;
  };
  main.replaceChildren(
    table(
      ['run', 'node', 'branch', 'step', 'state', 'uptime', 'egress', 'restarts', ''],
      runs.map((r) => {
        const name = el('a', { href: '#/runs', 'data-follow': r.run_id }, r.run_id);
        name.addEventListener('click', () => follow(r.run_id));
        return [
          name,
          r.node_id ?? `(from ${r.parent_node_id})`,
          r.branches.join(', ') || '-',
          r.step,
          el('span', { class: `status-${r.status}`, 'data-run-status': r.run_id }, r.status),
          secs(r.uptime_ms),
          `${r.egress.allowed}/${r.egress.denied}`,
          r.attempt === null ? '-' : `${r.attempt} (${r.restart_policy})`,
          r.state === 'running' ? el('span', {}, action(r.run_id, 'stop'), action(r.run_id, 'kill')) : '',
        ];
      }),
    ),
    el('h3', {}, followed ? `Log of ${followed}` : 'Log'),
    logBox,
  );
}

async function renderCompare(params: URLSearchParams): Promise<void> {
  const g = graph ?? (await api<Graph>('/api/graph'));
  const pick = (name: string) => el('select', { name }, ...g.nodes.map((n) => el('option', n.node_id === params.get(name) ? { value: n.node_id, selected: '' } : { value: n.node_id }, n.node_id)));
  const a = pick('a');
  const b = pick('b');
  const go = el('button', {}, 'compare');
  const out = el('div', { id: 'compare-out' });
  go.addEventListener('click', () => {
    location.hash = `#/compare?a=${encodeURIComponent((a as HTMLSelectElement).value)}&b=${encodeURIComponent((b as HTMLSelectElement).value)}`;
  });
  main.replaceChildren(el('p', {}, 'from ', a, ' to ', b, ' ', go), out);
  if (params.get('a') && params.get('b')) {
    const d = await api<{ files: Array<{ path: string; status: string; added: number; removed: number }>; patch: string }>(`/api/diff?a=${encodeURIComponent(params.get('a')!)}&b=${encodeURIComponent(params.get('b')!)}`);
    out.replaceChildren(table(['file', 'status', '+', '-'], d.files.map((f) => [f.path, f.status, String(f.added), String(f.removed)])), el('pre', {}, d.patch));
  }
}

// ---------------------------------------------------------------------------------------------

async function route(): Promise<void> {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [pathPart, query] = hash.split('?');
  for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('on', pathPart === (a.getAttribute('data-nav') === 'dag' ? '/' : `/${a.getAttribute('data-nav')}`));
  if (pathPart !== '/runs') {
    clearTimeout(followTimer);
    followed = null;
    logBox.textContent = 'pick a run to follow its log';
  }
  try {
    if (pathPart === '/') graph ? renderDag(graph) : renderDag((graph = await api<Graph>('/api/graph')));
    else if (pathPart!.startsWith('/node/')) await renderNode(decodeURIComponent(pathPart!.slice('/node/'.length)));
    else if (pathPart === '/runs') await renderRuns();
    else if (pathPart === '/compare') await renderCompare(new URLSearchParams(query ?? ''));
    else main.replaceChildren('no such page');
  } catch (error) {
    main.replaceChildren(el('p', { class: 'status-failed' }, String((error as Error).message)));
  }
}

window.addEventListener('hashchange', () => void route());
void route();

// Live updates without reload: the server pushes the graph whenever it changes.
const events = new EventSource(`/api/events?token=${encodeURIComponent(token)}`);
events.addEventListener('graph', (e) => {
  graph = JSON.parse((e as MessageEvent<string>).data) as Graph;
  document.getElementById('live')!.textContent = `live · ${new Date().toLocaleTimeString()}`;
  const hash = location.hash.replace(/^#/, '') || '/';
  if (hash === '/') renderDag(graph);
  else if (hash === '/runs') void renderRuns();
});
