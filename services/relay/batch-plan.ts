// Choosing the relay's next batch: which unpublished events, in which order. Per subject,
// only the unbroken run of sequences after its cursor (a subject whose next sequence is not
// visible yet is held back); subjects interleaved in outbox order.
import type { StoredEvent } from "../event-log/index.ts";
import type { Sql } from "../platform/sql.ts";
import { backlogDirectories, oldestUnpublished, subjectsUnpublished, type Candidate } from "../event-log/index.ts";

/** Up to this many directories with a backlog share each batch fairly (see nextCandidates()). */
const MAX_FAIR_DIRECTORIES = 32;

/**
 * Committed, unpublished, unparked events in outbox order (per directory, when a few
 * directories have a backlog: each gets its share of the batch, oldest first, so one
 * directory's burst, a 100,000-member group deleted, does not hold another's leavers behind
 * it; with many, plain outbox order, which starves none), with their subject's cursor. When
 * every event of that window belongs to a held subject (its next sequence lies further on),
 * the window moves to those subjects' events in sequence order, so the relay cannot stall.
 * `exclude`: the rows of the batch being marked. `more`: whether more rows were waiting
 * beyond what was read.
 */
export async function nextCandidates(sql: Sql, batchSize: number, exclude: readonly string[]): Promise<{ rows: Candidate[]; more: boolean }> {
  const dirs = await backlogDirectories(sql, MAX_FAIR_DIRECTORIES + 1);
  const fair = dirs.length > 1 && dirs.length <= MAX_FAIR_DIRECTORIES;
  const share = fair ? Math.ceil(batchSize / dirs.length) : batchSize;
  const rows = fair ? await oldestUnpublished(sql, share, exclude, dirs) : await oldestUnpublished(sql, batchSize, exclude);
  // A full share means that directory has more waiting: the batch may be short (the other
  // directories had little), yet the relay should not sleep before the next one.
  const more = fair ? fullShare(rows, share) : rows.length === batchSize;
  if (rows.length === 0 || planBatch(rows, 1).batch.length > 0) return { rows, more };
  return { rows: await subjectsUnpublished(sql, [...new Set(rows.map((r) => r.subjectId))], batchSize, exclude), more };
}

/** Whether some directory has `share` rows among these. */
function fullShare(rows: readonly Candidate[], share: number): boolean {
  const counts = new Map<string, number>();
  for (const r of rows) {
    const n = (counts.get(r.directoryId) ?? 0) + 1;
    if (n >= share) return true;
    counts.set(r.directoryId, n);
  }
  return false;
}

/**
 * The next batch (at most `limit`): per subject, the unbroken run of sequences after its
 * cursor; subjects interleaved in outbox order, each subject's events in sequence order.
 * `held`: subjects with events left out because a sequence before them is missing.
 */
export function planBatch(rows: readonly Candidate[], limit: number): { batch: StoredEvent[]; held: number } {
  const bySubject = new Map<string, Candidate[]>();
  for (const r of rows) {
    const list = bySubject.get(r.subjectId) ?? [];
    list.push(r);
    bySubject.set(r.subjectId, list);
  }
  const ready: StoredEvent[] = [];
  const chains = new Map<string, StoredEvent[]>();
  let held = 0;
  for (const [subject, list] of bySubject) {
    list.sort((a, b) => (a.sequence < b.sequence ? -1 : a.sequence > b.sequence ? 1 : 0));
    let expected = list[0]!.cursor + 1n;
    const chain: StoredEvent[] = [];
    for (const r of list) {
      if (r.sequence < expected) continue; // already published under another row: impossible by the unique key
      if (r.sequence !== expected) break;
      chain.push(r);
      expected++;
    }
    if (chain.length < list.length) held++;
    if (chain.length > 0) {
      chains.set(subject, chain);
      ready.push(...chain);
    }
  }
  // Outbox order across subjects; within a subject, its slots take its chain in order.
  ready.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
  const taken = new Map<string, number>();
  const batch = ready.map((slot) => {
    const i = taken.get(slot.subjectId) ?? 0;
    taken.set(slot.subjectId, i + 1);
    return chains.get(slot.subjectId)![i]!;
  });
  return { batch: batch.slice(0, limit), held };
}
