// EventService: the published event log, in global position order, as pages, as a live
// stream, and per subject. Only published events (those with a position) are served, so a
// caller never sees an event whose transaction rolled back, and the order never changes.
import type { ServiceImpl } from "@connectrpc/connect";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { EventService } from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { checkId } from "../domain/directory.ts";
import { InvalidInputError } from "../domain/errors.ts";
import { checkPageSize, decodePageToken, encodePageToken } from "../domain/paging.ts";
import type { DirectoryUseCases } from "../application/directories.ts";
import type { EventLog } from "../persistence/event-log.ts";
import type { Notifier } from "../../platform/notifier.ts";
import { eventToPb } from "./event-codec.ts";

export interface EventServiceDeps {
  readonly directories: DirectoryUseCases;
  readonly log: EventLog;
  /** Wakes streams when the relay publishes (LISTEN roster_events); they poll as well. */
  readonly notifier: Notifier | undefined;
  /** Aborted when the server shuts down: open streams end cleanly. */
  readonly closing: AbortSignal;
  readonly streamPollMs: number;
}

const STREAM_PAGE = 500;

export function encodeCursor(position: bigint): string {
  return encodePageToken({ p: position.toString() });
}

export function decodeCursor(cursor: string): bigint {
  if (cursor === "") return 0n;
  let raw: unknown;
  try {
    raw = decodePageToken(cursor).p;
  } catch {
    throw new InvalidInputError("invalidValue", "cursor is not one this service issued");
  }
  if (typeof raw !== "string" || !/^\d{1,19}$/.test(raw)) throw new InvalidInputError("invalidValue", "cursor is not one this service issued");
  return BigInt(raw);
}

function startTime(value: Timestamp | undefined): Date | undefined {
  return value ? timestampDate(value) : undefined;
}

function filterOf(filter: { types: string[]; subjectId: string } | undefined): { types: string[]; subjectId: string | undefined } {
  if (filter?.types && filter.types.length > 100) throw new InvalidInputError("invalidValue", "filter.types may list at most 100 types");
  return {
    types: filter?.types ?? [],
    subjectId: filter?.subjectId ? checkId("filter.subject_id", filter.subjectId) : undefined,
  };
}

export function eventServiceImpl(deps: EventServiceDeps): ServiceImpl<typeof EventService> {
  async function directoryOf(id: string): Promise<string> {
    const directoryId = checkId("directory_id", id);
    await deps.directories.getDirectory(directoryId);
    return directoryId;
  }

  return {
    async listEvents(req) {
      const directoryId = await directoryOf(req.directoryId);
      const limit = checkPageSize(req.pageSize, 100, 1000);
      const after = decodeCursor(req.cursor);
      // Read first: every position up to it is visible to the query that follows, so a
      // short page may move the cursor there and a filtered reader does not rescan.
      const head = await deps.log.headPosition(directoryId);
      const events = await deps.log.list({
        directoryId,
        afterPosition: after,
        // A cursor already encodes where to go on; the time applies to the first page.
        startTime: req.cursor === "" ? startTime(req.startTime) : undefined,
        ...filterOf(req.filter),
        limit,
      });
      let last = events.at(-1)?.position ?? after;
      if (events.length < limit && head > last) last = head;
      return { events: events.map((e) => eventToPb(e)), nextCursor: encodeCursor(last) };
    },

    async *streamEvents(req, ctx) {
      const directoryId = await directoryOf(req.directoryId);
      let after = decodeCursor(req.cursor);
      const start = req.cursor === "" ? startTime(req.startTime) : undefined;
      const filter = filterOf(req.filter);
      const signal = AbortSignal.any([ctx.signal, deps.closing]);
      while (!signal.aborted) {
        const generation = deps.notifier?.generation;
        const head = await deps.log.headPosition(directoryId);
        const page = await deps.log.list({ directoryId, afterPosition: after, startTime: start, ...filter, limit: STREAM_PAGE });
        for (const e of page) {
          if (signal.aborted) return;
          after = e.position!;
          yield { event: eventToPb(e), cursor: encodeCursor(after) };
        }
        if (page.length < STREAM_PAGE) {
          // Nothing at or below head is left to match: the next poll starts after it.
          if (head > after) after = head;
          await (deps.notifier?.wait(deps.streamPollMs, signal, generation) ?? sleep(deps.streamPollMs, signal));
        }
      }
    },

    async listSubjectEvents(req) {
      const directoryId = await directoryOf(req.directoryId);
      const subjectId = checkId("subject_id", req.subjectId);
      const limit = checkPageSize(req.pageSize, 100, 1000);
      if (req.afterSequence < 0n) throw new InvalidInputError("invalidValue", "after_sequence must not be negative");
      const events = await deps.log.subject(directoryId, subjectId, req.afterSequence, limit + 1);
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
