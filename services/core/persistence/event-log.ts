// Reading the published event log (outbox rows that have a global position) for
// EventService. Unpublished rows are never served: they may belong to a transaction that is
// still open or about to roll back, and they have no place in the global order yet.
import type pg from "pg";
import type { StoredEvent } from "../transport/event-codec.ts";

export const EVENT_COLUMNS = "seq, id, directory_id, subject_type, subject_id, sequence, type, payload, occurred_at, position";

export interface EventRow {
  seq: string;
  id: string;
  directory_id: string;
  subject_type: "user" | "group";
  subject_id: string;
  sequence: string;
  type: string;
  payload: Record<string, unknown>;
  occurred_at: Date;
  position: string | null;
}

export function toStoredEvent(r: EventRow): StoredEvent {
  return {
    seq: BigInt(r.seq),
    id: r.id,
    directoryId: r.directory_id,
    subjectType: r.subject_type,
    subjectId: r.subject_id,
    sequence: BigInt(r.sequence),
    type: r.type,
    payload: r.payload,
    occurredAt: r.occurred_at,
    position: r.position === null ? null : BigInt(r.position),
  };
}

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

/** The NOTIFY channel the relay signals after each publication (a wake-up hint only). */
export const EVENTS_CHANNEL = "roster_events";

export class EventLog {
  private readonly pool: pg.Pool;
  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  /** Published events in global order after a position. */
  async list(q: EventQuery): Promise<StoredEvent[]> {
    const params: unknown[] = [q.directoryId, q.afterPosition.toString(), q.limit];
    let where = "directory_id = $1 AND position IS NOT NULL AND position > $2";
    if (q.startTime) {
      params.push(q.startTime);
      where += ` AND occurred_at >= $${params.length}`;
    }
    if (q.types.length > 0) {
      params.push(q.types);
      where += ` AND type = ANY($${params.length}::text[])`;
    }
    if (q.subjectId) {
      params.push(q.subjectId);
      where += ` AND subject_id = $${params.length}`;
    }
    const { rows } = await this.pool.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM outbox_events WHERE ${where} ORDER BY position LIMIT $3`, params);
    return rows.map(toStoredEvent);
  }

  /** The highest position assigned so far in this directory (0 when none). */
  async headPosition(directoryId: string): Promise<bigint> {
    const { rows } = await this.pool.query<{ p: string | null }>(
      "SELECT max(position)::text AS p FROM outbox_events WHERE directory_id = $1 AND position IS NOT NULL",
      [directoryId],
    );
    return BigInt(rows[0]?.p ?? "0");
  }

  /**
   * The highest position ever assigned, in any directory: the lease's last position (kept
   * when the rows are deleted) or the newest row's, whichever is higher.
   */
  async globalHeadPosition(): Promise<bigint> {
    const { rows } = await this.pool.query<{ p: string }>(
      `SELECT GREATEST((SELECT max(position) FROM relay_leases), (SELECT max(position) FROM outbox_events), 0)::text AS p`,
    );
    return BigInt(rows[0]?.p ?? "0");
  }

  /** How far the replay-window cleanup has deleted this directory's events (undefined: nothing yet). */
  async floor(directoryId: string): Promise<EventLogFloor | undefined> {
    const { rows } = await this.pool.query<{ pruned_through: string; pruned_occurred_at: Date }>(
      "SELECT pruned_through::text, pruned_occurred_at FROM event_log_floors WHERE directory_id = $1",
      [directoryId],
    );
    const row = rows[0];
    return row ? { prunedThrough: BigInt(row.pruned_through), prunedOccurredAt: row.pruned_occurred_at } : undefined;
  }

  /**
   * The last published sequence of a subject of this directory (kept by the relay when the
   * rows are deleted); 0 when the subject is unknown here or has nothing published.
   */
  async subjectHeadSequence(directoryId: string, subjectId: string): Promise<bigint> {
    const { rows } = await this.pool.query<{ s: string }>(
      `SELECT GREATEST(
         (SELECT c.sequence FROM relay_subject_cursors c
           WHERE c.subject_id = $1
             AND (EXISTS (SELECT 1 FROM users WHERE id = $1 AND directory_id = $2)
               OR EXISTS (SELECT 1 FROM groups WHERE id = $1 AND directory_id = $2))),
         (SELECT max(sequence) FROM outbox_events WHERE subject_id = $1 AND directory_id = $2 AND position IS NOT NULL),
         0)::text AS s`,
      [subjectId, directoryId],
    );
    return BigInt(rows[0]?.s ?? "0");
  }

  /** One subject's published events in sequence order. */
  async subject(directoryId: string, subjectId: string, afterSequence: bigint, limit: number): Promise<StoredEvent[]> {
    const { rows } = await this.pool.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM outbox_events
        WHERE subject_id = $1 AND directory_id = $2 AND sequence > $3 AND position IS NOT NULL
        ORDER BY sequence LIMIT $4`,
      [subjectId, directoryId, afterSequence.toString(), limit],
    );
    return rows.map(toStoredEvent);
  }
}
