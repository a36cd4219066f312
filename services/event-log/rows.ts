// Outbox rows as the relay and EventService read them. outbox_events is append-only: a
// published event's position lives in event_positions (see migration 0009).
import { toDate } from "../platform/sql.ts";
import type { StoredEvent } from "./stored-event.ts";

/**
 * outbox_events' columns, qualified by `o`; reads add the position from `p` (or NULL). The
 * payload only of a row without its stored Event message: the message says it all.
 */
export const OUTBOX_COLUMNS =
  "o.seq, o.id, o.directory_id, o.subject_type, o.subject_id, o.sequence, o.type, CASE WHEN o.event IS NULL THEN o.payload END AS payload, o.occurred_at, o.event";

export interface EventRow {
  seq: string;
  id: string;
  directory_id: string;
  subject_type: "user" | "group";
  subject_id: string;
  sequence: string;
  type: string;
  payload: Record<string, unknown> | null;
  /** Text through the ORM's connections (platform/sql.ts), a Date through a plain pg client. */
  occurred_at: Date | string;
  position: string | null;
  event: Uint8Array | null;
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
    occurredAt: toDate(r.occurred_at),
    position: r.position === null ? null : BigInt(r.position),
    event: r.event,
  };
}

/** The NOTIFY channel the relay signals after each publication (a wake-up hint only). */
export const EVENTS_CHANNEL = "roster_events";
/** The NOTIFY channel writers signal at commit (trigger on outbox_events): wakes the relay. */
export const OUTBOX_CHANNEL = "roster_outbox";
