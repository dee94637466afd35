/** An agent session as a readable timeline on a terminal. */
import type { SessionDetail } from '@swarm/state';

const MAX_TEXT = 600;
/** Terminal control sequences and other control characters (a transcript is the step's text), newline and tab kept. */
const CONTROL = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(\u0007|\u001b\\)?|[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

function clean(text: string): string {
  return text.replace(CONTROL, '');
}

export function renderTimeline(detail: SessionDetail): string {
  const s = detail.session;
  const lines = [
    `${s.agent} session ${s.session_id} (${s.model ?? 'model unknown'})`,
    `  ${s.turns} turns, ${s.tokens_in} tokens in, ${s.tokens_out} out; ${s.started_at ?? '?'} → ${s.ended_at ?? '?'}; from ${s.node_id}`,
    '',
  ];
  for (const e of detail.events) {
    if (e.repeat) continue;
    if (!e.known) {
      lines.push(`  ?  (${e.type}: kept raw, ${e.raw.length} bytes)`);
      continue;
    }
    if (e.text === null && e.tool === null) continue;
    const time = e.at ? `${e.at.slice(11, 19)} ` : '';
    const who = e.tool ? `${e.role === 'assistant' ? '→' : '←'} ${e.tool}` : (e.role ?? e.type);
    const tokens = e.tokens_in || e.tokens_out ? `  [${e.tokens_in ?? 0}/${e.tokens_out ?? 0}]` : '';
    const text = clean((e.text ?? '').length > MAX_TEXT ? `${e.text!.slice(0, MAX_TEXT)}…` : (e.text ?? ''));
    const [first, ...rest] = text.split('\n');
    lines.push(`${time}${who}: ${first ?? ''}${tokens}`, ...rest.map((line) => `    ${line}`));
  }
  return `${lines.join('\n')}\n`;
}
