// Sending one batch to Kafka, and finding the events the broker refuses for good. An event
// over MAX_EVENT_BYTES is not sent; when the broker refuses the batch for good
// (PermanentPublishError: too large, invalid record), it is sent again in halves, in order,
// down to the refused events (about 2·log2(batch) sends for one). A refused event parks its
// subject: its later events in the batch are skipped, and the positions of what is sent stay
// gap-free. Any other failure throws (the relay retries the round with backoff).
import { MAX_EVENT_BYTES, type ParkedEvent, type StoredEvent } from "../event-log/index.ts";
import { FencedError } from "./lease.ts";
import { PermanentPublishError, type OutboundMessage, type Publisher } from "./publisher.ts";

export interface SendOutcome {
  /** Acknowledged, in order: they take the positions after `base`. */
  readonly sent: StoredEvent[];
  readonly parked: ParkedEvent[];
}

export interface BatchSending {
  readonly publisher: Publisher;
  /** The Kafka messages of an event at a position: the event, then its subject's state. */
  readonly messages: (event: StoredEvent, position: bigint) => readonly OutboundMessage[];
  /** Checked before every re-send: a relay that lost its lease stops looking. */
  readonly stillLeader: () => boolean;
}

export async function sendBatch(s: BatchSending, batch: readonly StoredEvent[], base: bigint): Promise<SendOutcome> {
  const parked = new Map<string, ParkedEvent>();
  const kept: StoredEvent[] = [];
  const messages: OutboundMessage[] = [];
  for (const row of batch) {
    if (parked.has(row.subjectId)) continue;
    const ms = s.messages(row, base + BigInt(kept.length) + 1n);
    const bytes = Math.max(...ms.map((m) => m.value?.byteLength ?? 0));
    if (bytes > MAX_EVENT_BYTES) {
      parked.set(row.subjectId, { event: row, reason: `event of ${bytes} bytes is over the ${MAX_EVENT_BYTES}-byte bound` });
      continue;
    }
    kept.push(row);
    messages.push(...ms);
  }
  let refusal: PermanentPublishError;
  try {
    await s.publisher.publish(messages);
    return { sent: kept, parked: [...parked.values()] };
  } catch (error) {
    if (!(error instanceof PermanentPublishError)) throw error;
    refusal = error;
  }
  // Some of the batch may have been acknowledged already: sent again, they are duplicates
  // that consumers drop by event id (at-least-once, as after a crash).
  const sent: StoredEvent[] = [];
  const bisect = async (part: readonly StoredEvent[]): Promise<void> => {
    const rows = part.filter((r) => !parked.has(r.subjectId)); // a subject parked on the left stops here
    if (rows.length === 0) return;
    if (!s.stillLeader()) throw new FencedError("the relay lost its lease while looking for a refused event");
    try {
      await s.publisher.publish(rows.flatMap((r, i) => s.messages(r, base + BigInt(sent.length + i) + 1n)));
      sent.push(...rows);
      return;
    } catch (error) {
      if (!(error instanceof PermanentPublishError)) throw error;
      if (rows.length === 1) {
        parked.set(rows[0]!.subjectId, { event: rows[0]!, reason: error.message });
        return;
      }
    }
    const half = Math.ceil(rows.length / 2);
    await bisect(rows.slice(0, half));
    await bisect(rows.slice(half));
  };
  // The whole batch was just refused: start from its halves.
  if (kept.length === 1) {
    parked.set(kept[0]!.subjectId, { event: kept[0]!, reason: refusal.message });
  } else {
    const half = Math.ceil(kept.length / 2);
    await bisect(kept.slice(0, half));
    await bisect(kept.slice(half));
  }
  return { sent, parked: [...parked.values()] };
}
