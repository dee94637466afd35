/** The dispatch ledger in the store's catalog: validated on every write. */
import { SwarmError, validateDocument } from '@swarm/core';
import { type LedgerEntry } from '@swarm/github';
import { Store } from '@swarm/state';

export function saveLedger(store: Store, entry: LedgerEntry): void {
  const report = validateDocument('ledger', entry);
  if (!report.valid) throw new SwarmError('INTERNAL', `ledger entry invalid: ${JSON.stringify(report.errors).slice(0, 300)}`);
  store.catalog.putLedger({ request_id: entry.request_id, run_id: entry.run_id, backend: 'github', status: entry.status, entry_json: JSON.stringify(entry), updated_at: entry.updated_at });
}

/** The ledger entry of `--run-id` (a swarm run id or a request id). */
export function ledgerEntry(store: Store, id: string): LedgerEntry {
  const row = store.catalog.getLedger(id) ?? store.catalog.findLedgerByRun(id);
  if (!row) throw new SwarmError('RUN_LEDGER_MISSING', `no remote run ${id} in this store's ledger`, { details: { id } });
  return JSON.parse(row.entry_json) as LedgerEntry;
}
