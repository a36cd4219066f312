// Reading the published event log for EventService (and the operator's replay): outbox rows
// that have a global position in event_positions. Unpublished rows are never served: they
// may belong to a transaction that is still open or about to roll back, and they have no
// place in the global order yet.
import type { StoredEvent } from "./stored-event.ts";
import { toDate, type Sql } from "../platform/sql.ts";
import { OUTBOX_COLUMNS, toStoredEvent, type EventRow } from "./rows.ts";

export interface EventQuery {
  readonly directoryId: string;
  /** Events after this position. */
  readonly afterPosition: bigint;
  readonly startTime: Date | undefined;
  readonly types: readonly string[];
  readonly subjectId: string | undefined;
  readonly limit: number;
}

export interface EventLogFloor {
  /** Every event of the directory at or below this position has been deleted. */
  readonly prunedThrough: bigint;
  /** The latest occurrence time among the deleted events. */
  readonly prunedOccurredAt: Date;
}

export class EventLog {
  private readonly sql: Sql;
  /** `sql`: statements outside any transaction (e.g. `sqlFor(orm.em.fork())`). */
  constructor(sql: Sql) {
    this.sql = sql;
  }

  /**
   * Published events in global order after a position. The page's positions are found
   * first (narrow index walk), then each row by key: however stale the table statistics,
   * the outbox is never hashed or sorted whole.
   */
  async list(q: EventQuery): Promise<StoredEvent[]> {
    const params: unknown[] = [q.directoryId, q.afterPosition.toString(), q.limit];
    const filters: string[] = [];
    if (q.startTime) {
      params.push(q.startTime);
      filters.push(`f.occurred_at >= $${params.length}`);
    }
    if (q.types.length > 0) {
      params.push(q.types);
      filters.push(`f.type = ANY($${params.length}::text[])`);
    }
    if (q.subjectId) {
      params.push(q.subjectId);
      filters.push(`f.subject_id = $${params.length}`);
    }
    const matching = filters.length > 0 ? `AND EXISTS (SELECT 1 FROM outbox_events f WHERE f.seq = p.seq AND ${filters.join(" AND ")})` : "";
    const rows = await this.sql<EventRow>(
      `SELECT ${OUTBOX_COLUMNS}, p.position
         FROM (SELECT p.position, p.seq FROM event_positions p
                WHERE p.directory_id = $1 AND p.position > $2 ${matching}
                ORDER BY p.position LIMIT $3) p
         CROSS JOIN LATERAL (SELECT * FROM outbox_events o WHERE o.seq = p.seq LIMIT 1) o
        ORDER BY p.position`,
      params,
    );
    return rows.map(toStoredEvent);
  }

  /** The highest position assigned so far in this directory (0 when none). */
  async headPosition(directoryId: string): Promise<bigint> {
    const rows = await this.sql<{ p: string | null }>("SELECT max(position)::text AS p FROM event_positions WHERE directory_id = $1", [directoryId]);
    return BigInt(rows[0]?.p ?? "0");
  }

  /**
   * The highest position ever assigned, in any directory: the lease's last position (kept
   * when the rows are deleted) or the newest row's, whichever is higher.
   */
  async globalHeadPosition(): Promise<bigint> {
    const rows = await this.sql<{ p: string }>(
      `SELECT GREATEST((SELECT max(position) FROM relay_leases), (SELECT max(position) FROM event_positions), 0)::text AS p`,
    );
    return BigInt(rows[0]?.p ?? "0");
  }

  /** How far the replay-window cleanup has deleted this directory's events (undefined: nothing yet). */
  async floor(directoryId: string): Promise<EventLogFloor | undefined> {
    const rows = await this.sql<{ pruned_through: string; pruned_occurred_at: Date | string }>(
      "SELECT pruned_through::text, pruned_occurred_at FROM event_log_floors WHERE directory_id = $1",
      [directoryId],
    );
    const row = rows[0];
    return row ? { prunedThrough: BigInt(row.pruned_through), prunedOccurredAt: toDate(row.pruned_occurred_at) } : undefined;
  }

  /**
   * The last published sequence of a subject of this directory (kept by the relay when the
   * rows are deleted); 0 when the subject is unknown here or has nothing published.
   */
  async subjectHeadSequence(directoryId: string, subjectId: string): Promise<bigint> {
    const rows = await this.sql<{ s: string }>(
      `SELECT GREATEST(
         (SELECT c.sequence FROM relay_subject_cursors c
           WHERE c.subject_id = $1
             AND (EXISTS (SELECT 1 FROM users WHERE id = $1 AND directory_id = $2)
               OR EXISTS (SELECT 1 FROM groups WHERE id = $1 AND directory_id = $2))),
         (SELECT max(o.sequence) FROM outbox_events o JOIN event_positions p USING (seq) WHERE o.subject_id = $1 AND o.directory_id = $2),
         0)::text AS s`,
      [subjectId, directoryId],
    );
    return BigInt(rows[0]?.s ?? "0");
  }

  /** One subject's published events in sequence order. */
  async subject(directoryId: string, subjectId: string, afterSequence: bigint, limit: number): Promise<StoredEvent[]> {
    const rows = await this.sql<EventRow>(
      `SELECT ${OUTBOX_COLUMNS}, p.position FROM outbox_events o JOIN event_positions p USING (seq)
        WHERE o.subject_id = $1 AND o.directory_id = $2 AND o.sequence > $3
        ORDER BY o.sequence LIMIT $4`,
      [subjectId, directoryId, afterSequence.toString(), limit],
    );
    return rows.map(toStoredEvent);
  }

  /** A subject's events the relay has not published yet. */
  async subjectUnpublished(directoryId: string, subjectId: string): Promise<number> {
    const rows = await this.sql<{ n: string }>("SELECT count(*)::text AS n FROM outbox_pending WHERE subject_id = $1 AND directory_id = $2", [
      subjectId,
      directoryId,
    ]);
    return Number(rows[0]?.n ?? 0);
  }
}
