// What the relay reads and writes in the event log: the committed, unpublished events it
// may send next (outbox_pending), and, behind its lease, the mark that gives a sent batch
// its positions (event_positions) and the replay-window cleanup. Nothing else writes these.
import type { StoredEvent } from "./stored-event.ts";
import type { Sql } from "../platform/sql.ts";
import { EVENTS_CHANNEL, OUTBOX_COLUMNS, toStoredEvent, type EventRow } from "./rows.ts";

/** An unpublished event and its subject's last published sequence (0 when none). */
export type Candidate = StoredEvent & { readonly cursor: bigint };

// No visibility horizon: outbox_pending holds exactly the committed rows not yet published,
// so a transaction that took its seq early and commits late adds its rows when it commits and
// nothing is skipped (a relay reading `seq > last` would skip them). Per subject, order comes
// from the cursor chain (planBatch: only the sequence after the subject's cursor goes), and
// across subjects, from visibility: what committed before a transaction began is visible no
// later than its rows. A long transaction, a 100,000-member group deleted, thus holds back
// only its own events, not every commit made while it runs.
/** A parked subject's rows wait until an operator unparks it; rows being marked are not read again. */
const SENDABLE = `NOT (q.seq = ANY($2::bigint[]))
  AND NOT EXISTS (SELECT 1 FROM relay_parked_subjects k WHERE k.subject_id = q.subject_id)`;
type CandidateRow = EventRow & { cursor: string | null };

/**
 * The outbox rows of the seqs `pick` selects from outbox_pending (as `q`), with their
 * subject's cursor. Rows and cursors are reached by key, one index probe each: a join would
 * let the planner hash the whole outbox, whose size grows with the replay window.
 */
async function candidates(sql: Sql, pick: string, params: unknown[]): Promise<Candidate[]> {
  const rows = await sql<CandidateRow>(
    `SELECT ${OUTBOX_COLUMNS}, NULL::text AS position,
            (SELECT c.sequence FROM relay_subject_cursors c WHERE c.subject_id = o.subject_id)::text AS cursor
       FROM outbox_events o WHERE o.seq = ANY(ARRAY(${pick})) ORDER BY o.seq`,
    params,
  );
  return rows.map((r) => ({ ...toStoredEvent(r), cursor: BigInt(r.cursor ?? "0") }));
}

/**
 * Up to `max` directories with unpublished events (an index skip scan). A directory whose
 * only pending rows are parked subjects' is left out: it would take a share of every batch
 * and fill none of it, slowing every other directory's backlog. That check probes each
 * directory's rows in index order and stops at the first unparked one (a LATERAL with LIMIT):
 * as an EXISTS, the planner joined every pending row against the parked subjects instead.
 */
export async function backlogDirectories(sql: Sql, max: number): Promise<string[]> {
  const rows = await sql<{ d: string }>(
    `WITH RECURSIVE dirs(d) AS (
       (SELECT directory_id FROM outbox_pending ORDER BY directory_id LIMIT 1)
       UNION ALL
       SELECT (SELECT q.directory_id FROM outbox_pending q WHERE q.directory_id > dirs.d ORDER BY q.directory_id LIMIT 1)
         FROM dirs WHERE dirs.d IS NOT NULL
     )
     SELECT d::text FROM dirs
      CROSS JOIN LATERAL (SELECT 1 FROM outbox_pending q WHERE q.directory_id = dirs.d
                            AND NOT EXISTS (SELECT 1 FROM relay_parked_subjects p WHERE p.subject_id = q.subject_id)
                          LIMIT 1) AS unparked
      WHERE d IS NOT NULL
      LIMIT $1`,
    [max],
  );
  return rows.map((r) => r.d);
}

/**
 * The oldest sendable events (outbox order), at most `limit`; with `directories`, at most
 * `limit` of each of them. `exclude`: rows of the batch being marked.
 */
export function oldestUnpublished(sql: Sql, limit: number, exclude: readonly string[], directories?: readonly string[]): Promise<Candidate[]> {
  return directories
    ? candidates(
        sql,
        `SELECT q.seq FROM unnest($3::uuid[]) AS d(directory_id)
           CROSS JOIN LATERAL (SELECT q.seq FROM outbox_pending q WHERE q.directory_id = d.directory_id AND ${SENDABLE} ORDER BY q.seq LIMIT $1) q`,
        [limit, exclude, directories],
      )
    : candidates(sql, `SELECT q.seq FROM outbox_pending q WHERE ${SENDABLE} ORDER BY q.seq LIMIT $1`, [limit, exclude]);
}

/** The first `limit` sendable events of each of these subjects, in sequence order. */
export function subjectsUnpublished(sql: Sql, subjects: readonly string[], limit: number, exclude: readonly string[]): Promise<Candidate[]> {
  return candidates(
    sql,
    `SELECT q.seq FROM unnest($3::uuid[]) AS s(subject_id)
       CROSS JOIN LATERAL (SELECT q.seq FROM outbox_pending q WHERE q.subject_id = s.subject_id AND ${SENDABLE} ORDER BY q.sequence LIMIT $1) q`,
    [limit, exclude, subjects],
  );
}

/** A subject the broker refused an event of for good, kept with the reason (never the payload). */
export interface ParkedEvent {
  readonly event: StoredEvent;
  readonly reason: string;
}

export interface PublicationMark {
  /** The relay's lease: the mark is written only while it still holds it, unchanged. */
  readonly lease: { readonly name: string; readonly holder: string; readonly epoch: number; readonly leaseMs: number };
  /** The last position assigned before this batch; the batch takes the following ones, in order. */
  readonly base: bigint;
  readonly sent: readonly StoredEvent[];
  readonly parked: readonly ParkedEvent[];
}

/**
 * Marks a sent batch published, in one statement on `sql` (the caller's transaction):
 * the lease compare-and-set gates every other write (each refers to its result); the batch
 * leaves outbox_pending, takes positions base+1.. in event_positions, moves its subjects'
 * cursors; parked subjects are recorded; the notification goes out at commit.
 * Returns whether the lease held and how many pending rows were marked.
 */
export async function markPublished(sql: Sql, mark: PublicationMark): Promise<{ leased: boolean; marked: number }> {
  const last = new Map<string, bigint>();
  for (const r of mark.sent) last.set(r.subjectId, r.sequence);
  const next = mark.base + BigInt(mark.sent.length);
  const rows = await sql<{ leased: string; marked: string }>(
    `WITH lease AS (
       UPDATE relay_leases SET position = $4, expires_at = now() + $6 * interval '1 millisecond'
        WHERE name = $1 AND holder = $2 AND epoch = $3 AND position = $5 AND expires_at > now()
        RETURNING 1
     ), marked AS (
       DELETE FROM outbox_pending q WHERE q.seq = ANY($7::bigint[]) AND EXISTS (SELECT 1 FROM lease)
       RETURNING 1
     ), positions AS (
       INSERT INTO event_positions (position, seq, directory_id)
       SELECT $5::bigint + v.ord, v.seq, v.directory_id
         FROM unnest($7::bigint[], $18::uuid[]) WITH ORDINALITY AS v(seq, directory_id, ord)
        WHERE EXISTS (SELECT 1 FROM lease)
       RETURNING 1
     ), cursors AS (
       INSERT INTO relay_subject_cursors (subject_id, sequence)
       SELECT * FROM unnest($8::uuid[], $9::bigint[]) WHERE EXISTS (SELECT 1 FROM lease)
       ON CONFLICT (subject_id) DO UPDATE SET sequence = EXCLUDED.sequence
       RETURNING 1
     ), parked AS (
       INSERT INTO relay_parked_subjects (subject_id, subject_type, directory_id, event_id, sequence, type, reason)
       SELECT * FROM unnest($11::uuid[], $12::text[], $13::uuid[], $14::uuid[], $15::bigint[], $16::text[], $17::text[])
        WHERE EXISTS (SELECT 1 FROM lease)
       ON CONFLICT (subject_id) DO NOTHING
       RETURNING 1
     )
     SELECT (SELECT count(*) FROM lease)::text AS leased, (SELECT count(*) FROM marked)::text AS marked,
            (SELECT count(*) FROM positions) AS positions, (SELECT count(*) FROM cursors) AS cursors, (SELECT count(*) FROM parked) AS parked,
            CASE WHEN EXISTS (SELECT 1 FROM lease) THEN pg_notify($10, $4::text) END AS notified`,
    [
      mark.lease.name,
      mark.lease.holder,
      mark.lease.epoch,
      next.toString(),
      mark.base.toString(),
      mark.lease.leaseMs,
      mark.sent.map((r) => r.seq.toString()),
      [...last.keys()],
      [...last.values()].map(String),
      EVENTS_CHANNEL,
      mark.parked.map((p) => p.event.subjectId),
      mark.parked.map((p) => p.event.subjectType),
      mark.parked.map((p) => p.event.directoryId),
      mark.parked.map((p) => p.event.id),
      mark.parked.map((p) => p.event.sequence.toString()),
      mark.parked.map((p) => p.event.type),
      mark.parked.map((p) => p.reason),
      mark.sent.map((r) => r.directoryId),
    ],
  );
  return { leased: rows[0]?.leased === "1", marked: Number(rows[0]?.marked ?? 0) };
}

/**
 * Deletes up to `limit` published events older than the replay window, oldest position
 * first and only an unbroken run of them, and records in the same statement how far each
 * directory's log now starts (event_log_floors), so EventService can tell a reader that it
 * fell behind. Returns how many were deleted.
 */
export async function pruneReplayWindow(sql: Sql, retentionMs: number, limit: number): Promise<number> {
  const rows = await sql<{ deleted: string }>(
    `WITH head AS (
       SELECT position, published_at FROM event_positions ORDER BY position LIMIT $2
     ), young AS (
       SELECT min(position) AS p FROM head WHERE published_at >= now() - $1 * interval '1 millisecond'
     ), gone_positions AS (
       DELETE FROM event_positions e USING head, young
        WHERE e.position = head.position AND (young.p IS NULL OR head.position < young.p)
       RETURNING e.seq, e.directory_id, e.position
     ), gone AS (
       DELETE FROM outbox_events o USING gone_positions g WHERE o.seq = g.seq
       RETURNING g.directory_id, g.position, o.occurred_at
     ), floors AS (
       INSERT INTO event_log_floors (directory_id, pruned_through, pruned_occurred_at)
       SELECT directory_id, max(position), max(occurred_at) FROM gone GROUP BY directory_id
       ON CONFLICT (directory_id) DO UPDATE
         SET pruned_through = GREATEST(event_log_floors.pruned_through, EXCLUDED.pruned_through),
             pruned_occurred_at = GREATEST(event_log_floors.pruned_occurred_at, EXCLUDED.pruned_occurred_at)
       RETURNING 1
     )
     SELECT (SELECT count(*) FROM gone_positions)::text AS deleted, (SELECT count(*) FROM floors) AS floors`,
    [retentionMs, limit],
  );
  return Number(rows[0]?.deleted ?? 0);
}
