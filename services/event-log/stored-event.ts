// An outbox row as the relay and EventService read it, the bound on its encoded size, and
// the CloudEvents headers every Kafka record of it carries.

/**
 * The largest encoded Event the relay sends: half of Kafka's default 1 MiB message limit,
 * leaving room for the key, headers and batch framing. Membership events stay far below it by
 * design (at most MAX_MEMBER_IDS_PER_EVENT ids each); a user event only nears it with a SCIM
 * resource of hundreds of KiB (the 1 MiB request body limit allows that), and the relay
 * parks such an event rather than send it.
 */
export const MAX_EVENT_BYTES = 512 * 1024;

/** One row of `outbox_events` as the relay and EventService read it. */
export interface StoredEvent {
  readonly seq: bigint;
  readonly id: string;
  readonly directoryId: string;
  readonly subjectType: "user" | "group" | "directory";
  readonly subjectId: string;
  readonly sequence: bigint;
  readonly type: string;
  readonly payload: Record<string, unknown>;
  readonly occurredAt: Date;
  /** Null until published. */
  readonly position: bigint | null;
}

/** CloudEvents 1.0 binary-mode headers for the Kafka protocol binding. */
export function cloudEventHeaders(row: StoredEvent): Record<string, string> {
  return {
    ce_specversion: "1.0",
    ce_id: row.id,
    ce_type: `io.roster.${row.type}`,
    ce_source: `/directories/${row.directoryId}`,
    ce_subject: `${row.subjectType === "directory" ? "directories" : `${row.subjectType}s`}/${row.subjectId}`,
    ce_time: row.occurredAt.toISOString(),
    "content-type": "application/protobuf",
  };
}
