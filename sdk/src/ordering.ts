// Delivery checks shared by the EventService subscription and the Kafka consumer: dedupe by
// event id within a bounded window, and per-subject sequence continuity.
import type { Event } from "./gen/roster/events/v1/events_pb.js";

/**
 * A subject's sequence skipped: events `expected` .. `received - 1` of `subjectId` were not
 * delivered. The event carrying `received` was NOT handed to the caller; resume from
 * `cursor` (the last delivered position, when the source has one) once the cause is known.
 */
export class SequenceGapError extends Error {
  override readonly name = "SequenceGapError";
  readonly directoryId: string;
  readonly subjectId: string;
  /** The sequence that should have come next. */
  readonly expected: bigint;
  /** The sequence that came instead. */
  readonly received: bigint;
  /** The id of the event that revealed the gap (it was not delivered). */
  readonly eventId: string;
  /** The last cursor delivered before the gap, for EventService subscriptions. */
  readonly cursor: string | undefined;

  constructor(fields: { directoryId: string; subjectId: string; expected: bigint; received: bigint; eventId: string; cursor?: string | undefined }) {
    const missing = fields.received - fields.expected;
    super(
      `subject ${fields.subjectId}: expected sequence ${fields.expected}, received ${fields.received} ` +
        `(${missing} event${missing === 1n ? "" : "s"} missing: ${fields.expected}..${fields.received - 1n})`,
    );
    this.directoryId = fields.directoryId;
    this.subjectId = fields.subjectId;
    this.expected = fields.expected;
    this.received = fields.received;
    this.eventId = fields.eventId;
    this.cursor = fields.cursor;
  }

  /** The missing sequence numbers, first and last inclusive. */
  get missing(): { readonly from: bigint; readonly to: bigint } {
    return { from: this.expected, to: this.received - 1n };
  }
}

/** A bounded set of recently seen ids; the oldest is forgotten first. */
export class RecentIds {
  readonly #capacity: number;
  readonly #ids = new Set<string>();

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("dedupe window must be a positive integer");
    this.#capacity = capacity;
  }

  has(id: string): boolean {
    return this.#ids.has(id);
  }

  add(id: string): void {
    if (this.#ids.has(id)) return;
    this.#ids.add(id);
    if (this.#ids.size > this.#capacity) {
      const oldest = this.#ids.values().next().value;
      if (oldest !== undefined) this.#ids.delete(oldest);
    }
  }
}

export type Verdict = "deliver" | "duplicate";

/**
 * Decides whether an event is new (deliver), seen already (duplicate: same id, or a sequence
 * at or below the subject's last one), or reveals a gap (throws SequenceGapError). The first
 * event of a subject sets its baseline. Call `accept` once the event has been delivered.
 */
export class DeliveryChecker {
  readonly #seen: RecentIds;
  readonly #last = new Map<string, bigint>();
  readonly #checkSequence: boolean;
  readonly #maxSubjects: number;

  constructor(options: { dedupeWindow: number; checkSequence: boolean; maxSubjects?: number }) {
    this.#seen = new RecentIds(options.dedupeWindow);
    this.#checkSequence = options.checkSequence;
    this.#maxSubjects = options.maxSubjects ?? 1_000_000;
  }

  check(event: Event, cursor?: string): Verdict {
    if (this.#seen.has(event.id)) return "duplicate";
    if (!this.#checkSequence) return "deliver";
    const last = this.#last.get(event.subjectId);
    if (last === undefined) return "deliver";
    // A redelivery whose id has left the window: the subject is already past it.
    if (event.sequence <= last) return "duplicate";
    if (event.sequence !== last + 1n) {
      throw new SequenceGapError({
        directoryId: event.directoryId,
        subjectId: event.subjectId,
        expected: last + 1n,
        received: event.sequence,
        eventId: event.id,
        cursor,
      });
    }
    return "deliver";
  }

  accept(event: Event): void {
    this.#seen.add(event.id);
    if (!this.#checkSequence) return;
    // Re-insert so the map iterates least-recently-updated first, for eviction.
    this.#last.delete(event.subjectId);
    this.#last.set(event.subjectId, event.sequence);
    if (this.#last.size > this.#maxSubjects) {
      const oldest = this.#last.keys().next().value;
      if (oldest !== undefined) this.#last.delete(oldest);
    }
  }

  /** Forgets every subject's baseline (not the seen ids): the next event of each sets it again. */
  resetSequences(): void {
    this.#last.clear();
  }
}
