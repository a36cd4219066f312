// Operator tools around the relay (used by `roster outbox lag|parked|unpark` and `roster
// events replay`): the backlog figures and parked subjects come from the event log;
// replay re-publishes one subject's already-published events to Kafka. Replay takes no lease
// and writes no row: it sends copies of events the relay already published, with the same
// event ids (ce_id) and positions, in sequence order, through the same Publisher and message
// building, so consumers dedupe them.
import type { Sql } from "../platform/sql.ts";
import { EventLog } from "../event-log/index.ts";
import { eventAt, eventMessage, type EventEncoder, type LifecycleTopics } from "./outbound.ts";
import type { Publisher } from "./publisher.ts";

export { outboxLag, parkedSubjects, unpark } from "../event-log/index.ts";

export interface ReplayOptions {
  readonly directoryId: string;
  readonly subjectId: string;
  /** First sequence to send (default 1). */
  readonly fromSequence?: bigint;
  readonly userTopic: string;
  readonly groupTopic: string;
  /** Value format by topic name (default protobuf). */
  readonly formats?: LifecycleTopics["formats"];
  readonly toEvent: EventEncoder;
  /** Events per send (default 500). */
  readonly batchSize?: number;
}

export interface ReplayResult {
  readonly replayed: number;
  /** First and last sequence sent; null when nothing was. */
  readonly firstSequence: number | null;
  readonly lastSequence: number | null;
  readonly eventIds: string[];
  /** The subject's rows the relay has not published yet (not replayed; the relay sends them). */
  readonly unpublished: number;
}

/**
 * Sends one subject's published events again, in sequence order, one acknowledged batch at a
 * time. Events deleted after the replay window (ROSTER_EVENT_RETENTION_MS) are gone: the
 * result's firstSequence says where the replay really started.
 */
export async function replaySubject(sql: Sql, publisher: Publisher, options: ReplayOptions): Promise<ReplayResult> {
  const batchSize = options.batchSize ?? 500;
  let after = (options.fromSequence ?? 1n) - 1n;
  const log = new EventLog(sql);
  const ids: string[] = [];
  let first: bigint | null = null;
  let last: bigint | null = null;
  for (;;) {
    const events = await log.subject(options.directoryId, options.subjectId, after, batchSize);
    if (events.length === 0) break;
    // Events only: an old state re-sent behind a newer one would become the state topic's last word.
    await publisher.publish(events.map((e) => eventMessage(e, e.position!, eventAt(e, e.position!, options.toEvent), options)));
    for (const e of events) ids.push(e.id);
    first ??= events[0]!.sequence;
    last = events.at(-1)!.sequence;
    after = last;
    if (events.length < batchSize) break;
  }
  return {
    replayed: ids.length,
    firstSequence: first === null ? null : Number(first),
    lastSequence: last === null ? null : Number(last),
    eventIds: ids,
    unpublished: await log.subjectUnpublished(options.directoryId, options.subjectId),
  };
}
