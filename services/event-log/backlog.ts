// The outbox backlog as operators and the lag gauges see it (`roster outbox lag|parked|unpark`,
// /metrics): unpublished and parked events, the relay leases, subjects held back. Unparking
// only deletes the parked row: the active relay then sends the subject's events itself.
import { toDate, type Sql } from "../platform/sql.ts";
import { OUTBOX_CHANNEL } from "./rows.ts";

export interface LeaseStatus {
  /** Lease (relay group) name; the relay uses "default". */
  readonly name: string;
  /** `host:pid:suffix` of the relay holding it; null after a graceful release. */
  readonly holder: string | null;
  /** Fencing epoch: goes up by one at every takeover. */
  readonly epoch: number;
  /** ISO time the lease expires unless renewed; null when released. */
  readonly expiresAt: string | null;
  /** True while unexpired: some relay is active. */
  readonly active: boolean;
  /** The last global position assigned by this relay group. */
  readonly position: number;
}

export interface StuckSubject {
  readonly subjectId: string;
  readonly subjectType: string;
  readonly directoryId: string;
  /** Last sequence published for the subject (relay_subject_cursors; 0 when none). */
  readonly publishedSequence: number;
  /** Lowest committed, unpublished sequence: not publishedSequence + 1, so the relay waits. */
  readonly nextSequence: number;
  readonly unpublished: number;
  readonly oldestAgeSeconds: number;
}

export interface ParkedSubject {
  readonly subjectId: string;
  readonly subjectType: string;
  readonly directoryId: string;
  /** The event the broker refused for good, and its place in the subject's sequence. */
  readonly eventId: string;
  readonly sequence: number;
  readonly type: string;
  /** Why (the broker's error kind, or the event size bound); never the payload. */
  readonly reason: string;
  readonly parkedAt: string;
  /** That event and the subject's later ones, all held. */
  readonly events: number;
}

/** What the lag gauges report: flow (parked subjects apart) and what is parked. */
export interface LagFigures {
  /** Committed rows not yet published, parked subjects' rows excluded. */
  readonly unpublished: number;
  /** Age of the oldest of them (0 when none). */
  readonly oldestUnpublishedAgeSeconds: number;
  /** Rows of parked subjects: a refused event and its subject's successors. */
  readonly parked: number;
}

/**
 * One statement over the unpublished rows only (outbox_pending), so
 * its cost follows the backlog, never the published history.
 */
export async function lagFigures(sql: Sql): Promise<LagFigures> {
  const rows = await sql<{ n: string; age: number | null; parked: string }>(
    `SELECT count(*) FILTER (WHERE p.subject_id IS NULL)::text AS n,
            extract(epoch FROM now() - min(o.occurred_at) FILTER (WHERE p.subject_id IS NULL))::float8 AS age,
            count(*) FILTER (WHERE p.subject_id IS NOT NULL)::text AS parked
       FROM outbox_pending o LEFT JOIN relay_parked_subjects p USING (subject_id)`,
  );
  return {
    unpublished: Number(rows[0]?.n ?? 0),
    oldestUnpublishedAgeSeconds: Math.max(0, rows[0]?.age ?? 0),
    parked: Number(rows[0]?.parked ?? 0),
  };
}

/** Parked subjects, oldest first (at most `limit`). */
export async function parkedSubjects(sql: Sql, limit = 1000): Promise<ParkedSubject[]> {
  const rows = await sql<{
    subject_id: string;
    subject_type: string;
    directory_id: string;
    event_id: string;
    sequence: string;
    type: string;
    reason: string;
    parked_at: Date | string;
    n: string;
  }>(
    `SELECT p.subject_id, p.subject_type, p.directory_id, p.event_id, p.sequence::text, p.type, p.reason, p.parked_at,
            (SELECT count(*) FROM outbox_pending o WHERE o.subject_id = p.subject_id)::text AS n
       FROM relay_parked_subjects p ORDER BY p.parked_at, p.subject_id LIMIT $1`,
    [limit],
  );
  return rows.map((r) => ({
    subjectId: r.subject_id,
    subjectType: r.subject_type,
    directoryId: r.directory_id,
    eventId: r.event_id,
    sequence: Number(r.sequence),
    type: r.type,
    reason: r.reason,
    parkedAt: toDate(r.parked_at).toISOString(),
    events: Number(r.n),
  }));
}

/**
 * Releases parked subjects (one, or all): the active relay sends their events on its next
 * round, in sequence order, and parks a subject again if the broker still refuses.
 */
export async function unpark(sql: Sql, which: { readonly subjectId: string } | "all"): Promise<{ unparked: string[] }> {
  const rows =
    which === "all"
      ? await sql<{ subject_id: string }>("DELETE FROM relay_parked_subjects RETURNING subject_id")
      : await sql<{ subject_id: string }>("DELETE FROM relay_parked_subjects WHERE subject_id = $1 RETURNING subject_id", [which.subjectId]);
  if (rows.length > 0) await sql("SELECT pg_notify($1, '')", [OUTBOX_CHANNEL]);
  return { unparked: rows.map((r) => r.subject_id).sort() };
}

export interface OutboxLag {
  /** Committed rows not yet published, parked subjects' rows excluded. */
  readonly unpublished: number;
  /** Age of the oldest of them (0 when none). */
  readonly oldestUnpublishedAgeSeconds: number;
  /** Rows held by parked subjects (the refused events and their subjects' successors). */
  readonly parkedEvents: number;
  /** Parked subjects, oldest first (at most 20; `roster outbox parked` lists them all). */
  readonly parkedSubjects: ParkedSubject[];
  readonly lastPublishedPosition: number;
  readonly lastPublishedAt: string | null;
  readonly leases: LeaseStatus[];
  /**
   * Subjects whose lowest committed unpublished sequence does not follow their cursor: the
   * relay holds them back. Transient while a transaction is in flight; persistent means a
   * missing row (at most 20 listed, oldest first).
   */
  readonly stuckSubjects: StuckSubject[];
  /** The oldest transaction holding a transaction id in this database: its events appear when it commits. */
  readonly oldestTransaction: { pid: number; ageSeconds: number; state: string | null; applicationName: string | null } | null;
}

export async function outboxLag(sql: Sql): Promise<OutboxLag> {
  const [lag, parked, leases, published, stuck, oldest] = await Promise.all([
    lagFigures(sql),
    parkedSubjects(sql, 20),
    sql<{ name: string; holder: string | null; epoch: string; expires_at: Date | string | null; active: boolean; position: string }>(
      `SELECT name, holder, epoch::text, CASE WHEN isfinite(expires_at) THEN expires_at END AS expires_at,
              expires_at > now() AS active, position::text
         FROM relay_leases ORDER BY name`,
    ),
    sql<{ at: Date | string | null }>("SELECT published_at AS at FROM event_positions ORDER BY position DESC LIMIT 1"),
    sql<{ subject_id: string; subject_type: string; directory_id: string; cursor: string; next: string; n: string; age: number }>(
      `WITH pending AS (
         SELECT q.subject_id, min(o.subject_type) AS subject_type, min(q.directory_id::text) AS directory_id,
                min(q.sequence) AS next, count(*) AS n, min(q.occurred_at) AS oldest
           FROM outbox_pending q JOIN outbox_events o USING (seq)
          WHERE q.subject_id NOT IN (SELECT subject_id FROM relay_parked_subjects)
          GROUP BY q.subject_id
       )
       SELECT p.subject_id, p.subject_type, p.directory_id, coalesce(c.sequence, 0)::text AS cursor, p.next::text, p.n::text,
              extract(epoch FROM now() - p.oldest)::float8 AS age
         FROM pending p LEFT JOIN relay_subject_cursors c USING (subject_id)
        WHERE p.next <> coalesce(c.sequence, 0) + 1
        ORDER BY p.oldest LIMIT 20`,
    ),
    sql<{ pid: number; age: number; state: string | null; application_name: string | null }>(
      `SELECT pid, extract(epoch FROM now() - xact_start)::float8 AS age, state, application_name
         FROM pg_stat_activity
        WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
        ORDER BY xact_start LIMIT 1`,
    ),
  ]);
  const leaseRows = leases.map((r) => ({
    name: r.name,
    holder: r.holder,
    epoch: Number(r.epoch),
    expiresAt: r.expires_at ? toDate(r.expires_at).toISOString() : null,
    active: r.active,
    position: Number(r.position),
  }));
  const o = oldest[0];
  return {
    unpublished: lag.unpublished,
    oldestUnpublishedAgeSeconds: lag.oldestUnpublishedAgeSeconds,
    parkedEvents: lag.parked,
    parkedSubjects: parked,
    lastPublishedPosition: Math.max(0, ...leaseRows.map((l) => l.position)),
    lastPublishedAt: published[0]?.at ? toDate(published[0].at).toISOString() : null,
    leases: leaseRows,
    stuckSubjects: stuck.map((r) => ({
      subjectId: r.subject_id,
      subjectType: r.subject_type,
      directoryId: r.directory_id,
      publishedSequence: Number(r.cursor),
      nextSequence: Number(r.next),
      unpublished: Number(r.n),
      oldestAgeSeconds: Math.max(0, r.age),
    })),
    oldestTransaction: o ? { pid: o.pid, ageSeconds: Math.max(0, o.age), state: o.state, applicationName: o.application_name } : null,
  };
}
