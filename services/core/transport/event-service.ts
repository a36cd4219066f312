// EventService: the published event log, in global position order, as pages, as a live
// stream, and per subject. Only published events (those with a position) are served, so a
// caller never sees an event whose transaction rolled back, and the order never changes.
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { CursorExpiredDetailSchema, StreamEventsResponseSchema, type EventService } from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { checkId } from "../domain/directory.ts";
import { InvalidInputError } from "../domain/errors.ts";
import { EVENT_TYPES, isEventType } from "../domain/events.ts";
import { checkPageSize, decodePageToken, encodePageToken } from "../domain/paging.ts";
import type { DirectoryUseCases } from "../application/directories.ts";
import type { EventLog, EventLogFloor, StoredEvent } from "../../event-log/index.ts";
import type { Notifier } from "../../platform/notifier.ts";
import { encodedEventAt, eventToPb } from "./event-codec.ts";

export interface EventServiceDeps {
  readonly directories: DirectoryUseCases;
  readonly log: EventLog;
  /** Wakes streams when the relay publishes (LISTEN roster_events); they poll as well. */
  readonly notifier: Notifier | undefined;
  /** Aborted when the server shuts down: open streams end cleanly. */
  readonly closing: AbortSignal;
  readonly streamPollMs: number;
}

// As large as the relay's default batch: a stream catching up reads one page per batch.
const STREAM_PAGE = 1000;

export function encodeCursor(position: bigint): string {
  return encodePageToken({ p: position.toString() });
}

const MAX_POSITION = 2n ** 63n - 1n; // positions are Postgres bigints

/** A position token (`field` names it in the refusal): "" is the start. */
export function decodeCursor(cursor: string, field = "cursor"): bigint {
  if (cursor === "") return 0n;
  const refused = () => new InvalidInputError("invalidValue", `${field} is not one this service issued`);
  let raw: unknown;
  try {
    raw = decodePageToken(cursor).p;
  } catch {
    throw refused();
  }
  if (typeof raw !== "string" || !/^\d{1,19}$/.test(raw) || BigInt(raw) > MAX_POSITION) throw refused();
  return BigInt(raw);
}

function filterOf(filter: { types: string[]; subjectId: string } | undefined): { types: string[]; subjectId: string | undefined } {
  const types = filter?.types ?? [];
  if (types.length > 100) throw new InvalidInputError("invalidValue", "filter.types may list at most 100 types");
  // An unknown type would match nothing, and the cursor would still move on: refused, so a
  // misspelt filter cannot skip events for good.
  const unknown = types.findIndex((t) => !isEventType(t));
  if (unknown >= 0) {
    throw new InvalidInputError("invalidValue", `filter.types[${unknown}] is not an event type; expected one of ${EVENT_TYPES.join(", ")}`);
  }
  return {
    types,
    subjectId: filter?.subjectId ? checkId("filter.subject_id", filter.subjectId) : undefined,
  };
}

/** A cursor past every position ever assigned: not one this log issued (or its events were lost). */
export function cursorAhead(head: bigint): ConnectError {
  return new ConnectError(`cursor is beyond the newest published event (position ${head})`, Code.OutOfRange);
}

/** Events after the reader's place were deleted by the replay-window cleanup. */
function cursorExpired(what: string, detail: { oldestCursor?: string; oldestAfterSequence?: bigint }): ConnectError {
  return new ConnectError(`${what} is older than the replay window: events after it were deleted; resynchronise, then resume from the oldest cursor in the details`, Code.FailedPrecondition, undefined, [
    { desc: CursorExpiredDetailSchema, value: detail },
  ]);
}

/**
 * Where a read starts and what it may have missed. A read "from the start" (no cursor, no
 * time) starts at the oldest event kept; one from a cursor or a time must not pass over
 * deleted events that it would have matched.
 */
interface ReadFrom {
  after: bigint;
  readonly startTime: Date | undefined;
  /** False for a read from the start, until its first page. */
  explicit: boolean;
}

async function readFrom(log: EventLog, directoryId: string, cursor: string, time: Timestamp | undefined): Promise<ReadFrom> {
  const after = decodeCursor(cursor);
  if (cursor !== "") {
    const head = await log.globalHeadPosition();
    if (after > head) throw cursorAhead(head);
    // A cursor already encodes where to go on; the time applies to the first page.
    return { after, startTime: undefined, explicit: true };
  }
  const startTime = time ? timestampDate(time) : undefined;
  if (startTime) return { after: 0n, startTime, explicit: true };
  const floor = await log.floor(directoryId);
  return { after: floor?.prunedThrough ?? 0n, startTime: undefined, explicit: false };
}

/** Checked after a page was read from `from.after`: did the cleanup delete anything it would have served? */
async function refuseIfExpired(log: EventLog, directoryId: string, from: ReadFrom): Promise<void> {
  if (!from.explicit) return;
  const floor: EventLogFloor | undefined = await log.floor(directoryId);
  if (!floor || from.after >= floor.prunedThrough) return;
  if (from.startTime && from.startTime > floor.prunedOccurredAt) return;
  throw cursorExpired(from.startTime && from.after === 0n ? "start_time" : "cursor", { oldestCursor: encodeCursor(floor.prunedThrough) });
}

/** Whether the caller reads protobuf's binary format (Connect, gRPC and gRPC-web all name JSON in the content type). */
function readsBinary(ctx: HandlerContext): boolean {
  return !(ctx.requestHeader.get("content-type") ?? "").includes("json");
}

/**
 * One streamed event. To a binary client, the event goes as the bytes the outbox stored (its
 * position appended), carried as the response's `event` field without being decoded and encoded
 * again: what a stream catching up spent most of its time on. A JSON client gets the decoded
 * message, which its format needs.
 */
function streamedEvent(e: StoredEvent, cursor: string, binary: boolean): MessageInitShape<typeof StreamEventsResponseSchema> {
  if (!binary) return { event: eventToPb(e), cursor };
  const response = create(StreamEventsResponseSchema, { cursor });
  // An unknown field is written as it is: tag, then these bytes (length-prefixed).
  const data = new BinaryWriter().bytes(encodedEventAt(e)).finish();
  response.$unknown = [{ no: StreamEventsResponseSchema.field.event.number, wireType: WireType.LengthDelimited, data }];
  return response;
}

export function eventServiceImpl(deps: EventServiceDeps): Partial<ServiceImpl<typeof EventService>> {
  async function directoryOf(id: string): Promise<string> {
    const directoryId = checkId("directory_id", id);
    await deps.directories.getDirectory(directoryId);
    return directoryId;
  }

  return {
    async listEvents(req) {
      const directoryId = await directoryOf(req.directoryId);
      const limit = checkPageSize(req.pageSize, 100, 1000);
      const filter = filterOf(req.filter);
      const from = await readFrom(deps.log, directoryId, req.cursor, req.startTime);
      // Read first: every position up to it is visible to the query that follows, so a
      // short page may move the cursor there and a filtered reader does not rescan.
      const head = await deps.log.headPosition(directoryId);
      const events = await deps.log.list({ directoryId, afterPosition: from.after, startTime: from.startTime, ...filter, limit });
      await refuseIfExpired(deps.log, directoryId, from);
      let last = events.at(-1)?.position ?? from.after;
      if (events.length < limit && head > last) last = head;
      return { events: events.map((e) => eventToPb(e)), nextCursor: encodeCursor(last) };
    },

    async *streamEvents(req, ctx) {
      const directoryId = await directoryOf(req.directoryId);
      const filter = filterOf(req.filter);
      const from = await readFrom(deps.log, directoryId, req.cursor, req.startTime);
      const signal = AbortSignal.any([ctx.signal, deps.closing]);
      // Only a filtered stream needs the head: to move past positions that matched nothing.
      // Unfiltered, a short page ends at the head already, and the query is saved per page.
      const filtered = filter.types.length > 0 || filter.subjectId !== undefined || from.startTime !== undefined;
      let announced = !req.signalCaughtUp;
      const binary = readsBinary(ctx);
      while (!signal.aborted) {
        const generation = deps.notifier?.generation;
        const head = filtered ? await deps.log.headPosition(directoryId) : 0n;
        const page = await deps.log.list({ directoryId, afterPosition: from.after, startTime: from.startTime, ...filter, limit: STREAM_PAGE });
        // A reader slower than the cleanup is told, never carried over the hole.
        await refuseIfExpired(deps.log, directoryId, from);
        from.explicit = true;
        for (const e of page) {
          if (signal.aborted) return;
          from.after = e.position!;
          yield streamedEvent(e, encodeCursor(from.after), binary);
        }
        if (page.length < STREAM_PAGE) {
          // Nothing at or below head is left to match: the next poll starts after it.
          if (head > from.after) from.after = head;
          if (!announced) {
            announced = true;
            yield { cursor: encodeCursor(from.after), caughtUp: true };
          }
          await (deps.notifier?.wait(deps.streamPollMs, signal, generation) ?? sleep(deps.streamPollMs, signal));
        }
      }
    },

    async listSubjectEvents(req) {
      const directoryId = await directoryOf(req.directoryId);
      const subjectId = checkId("subject_id", req.subjectId);
      const limit = checkPageSize(req.pageSize, 100, 1000);
      if (req.afterSequence < 0n) throw new InvalidInputError("invalidValue", "after_sequence must not be negative");
      // Read first: everything published up to it is visible to the query that follows.
      const head = await deps.log.subjectHeadSequence(directoryId, subjectId);
      if (req.afterSequence > head) {
        throw new ConnectError(`after_sequence is beyond the subject's last published event (sequence ${head})`, Code.OutOfRange);
      }
      const events = await deps.log.subject(directoryId, subjectId, req.afterSequence, limit + 1);
      // Sequences go up by one and the cleanup deletes oldest first: a first event further
      // on than the next sequence (or none, with more published) means the next ones are gone.
      const next = events[0]?.sequence ?? head + 1n;
      if (next > req.afterSequence + 1n) throw cursorExpired("after_sequence", { oldestAfterSequence: next - 1n });
      const more = events.length > limit;
      const page = events.slice(0, limit);
      return { events: page.map((e) => eventToPb(e)), nextAfterSequence: more ? page.at(-1)!.sequence : 0n };
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
