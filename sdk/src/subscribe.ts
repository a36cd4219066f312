// A resumable, gap-checked subscription to EventService.StreamEvents.
//
//   for await (const { event, cursor } of subscribe(clients.events, { directoryId, cursor: saved })) {
//     await handle(event);
//     await save(cursor); // resume from here after a restart
//   }
//
// - Transport failures (server restart, dropped connection, Unavailable...) reconnect with a
//   capped exponential backoff with full jitter, resuming after the last cursor this
//   iterator delivered, so nothing is skipped; events the server sends twice across a
//   reconnect are dropped by id.
// - Each subject's sequence must increase by exactly one. When it skips, the iterator throws
//   SequenceGapError (subject, expected, received, and the last delivered cursor) instead
//   of handing over the event after the hole. It never passes a gap silently.
// - Baselines: the first event of each subject in this iterator's lifetime sets that
//   subject's baseline, because a subscription that starts from a cursor or a time starts
//   in the middle of every subject's history. A gap across a process restart is therefore
//   not seen by the new process; call ListSubjectEvents if that matters to you.
// - Filters: with `filter.types`, a subject's sequence is legitimately sparse (the other
//   types are left out), so sequence checking is off for type-filtered streams unless you
//   force it. A `filter.subjectId` alone keeps the subject's whole history, and checking.
//   Types are the dotted event types (`EventType`); the server refuses any other string.
// - A cursor the server cannot resume after without skipping (older than the replay window,
//   or beyond its newest event) ends the iteration with ResyncRequiredError, carrying the
//   oldest cursor still served. Never a silent skip.
// - With `acknowledge`, the iterator reports to Roster what the caller has applied: once the
//   loop body that received an event has finished (the iterator is asked for the next one),
//   that event's cursor is acknowledged (at most once per interval, and on exit). An event
//   whose handler throws or never returns is never acknowledged.
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { toTimestamp } from "./time.ts";
import type { Event, EventService } from "./gen/roster/events/v1/events_pb.js";
import { backoffDelay, sleep, type BackoffOptions } from "./backoff.ts";
import { DeliveryChecker } from "./ordering.ts";
import type { EventType } from "./events.ts";
import { resyncErrorOf } from "./resync.ts";
import { Acknowledger, type AcknowledgeOptions } from "./acknowledge.ts";

export interface SubscribeOptions {
  directoryId: string;
  /** Resume after this cursor (one this iterator yielded earlier); empty: from the start or startTime. */
  cursor?: string;
  /** Start at this time when there is no cursor (a Date or a Timestamp). */
  startTime?: Date | Timestamp;
  /** Server-side filter. Type filters turn sequence checking off (see checkSequence). */
  filter?: { types?: EventType[]; subjectId?: string };
  /** Ends the iteration (without error) when aborted. */
  signal?: AbortSignal;
  /** Reconnect backoff; defaults: 200 ms initial, doubling, 10 s cap, full jitter. */
  backoff?: BackoffOptions;
  /** Give up after this many consecutive failed reconnects; default unlimited. */
  maxReconnects?: number;
  /**
   * Per-subject sequence checking: "auto" (default) checks unless `filter.types` is set;
   * true checks always (only sound when every type of a subject is requested).
   */
  checkSequence?: boolean | "auto";
  /** How many recent event ids to remember for deduplication; default 10 000. */
  dedupeWindow?: number;
  /**
   * Told about each reconnect, for logs and metrics. `planned` is true when the server ended
   * the stream itself (a graceful shutdown or a rolling restart): that is routine, not an
   * error; `error` is then a ConnectError with code Unavailable.
   */
  onReconnect?: (info: ReconnectInfo) => void;
  /**
   * Told each time the server accepts the stream (its response headers arrived), the first
   * time and after every reconnect (`reconnected` true): "connected again".
   */
  onConnected?: (info: { reconnected: boolean; cursor: string | undefined }) => void;
  /**
   * Told when the subscription has delivered everything published so far and now follows
   * live ("caught up"), once per connection: after a reconnect it is told again once the
   * backlog of the outage is delivered. Use it for readiness ("the mirror is complete").
   */
  onCaughtUp?: (info: { cursor: string | undefined; reconnected: boolean }) => void;
  /** Acknowledges each handled event for a registered consumer (see AcknowledgeOptions). */
  acknowledge?: AcknowledgeOptions;
}

export interface ReconnectInfo {
  /** Consecutive failed attempts so far (1 after the first failure). */
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: unknown;
  /** The server closed the stream itself (shutdown, restart): routine. */
  readonly planned: boolean;
  readonly cursor: string | undefined;
}

export interface DeliveredEvent {
  readonly event: Event;
  /** Persist it to resume after this event. */
  readonly cursor: string;
}

/** Errors a reconnect cannot fix: the caller must act. */
const PERMANENT = new Set<Code>([
  Code.InvalidArgument,
  Code.NotFound,
  Code.AlreadyExists,
  Code.PermissionDenied,
  Code.FailedPrecondition,
  Code.OutOfRange,
  Code.Unimplemented,
  Code.Unauthenticated,
]);

function isPermanent(error: unknown): boolean {
  if (error instanceof ConnectError) return PERMANENT.has(error.code);
  // Not a transport error (a bug, a SequenceGapError...): surface it.
  return true;
}

export async function* subscribe(client: Client<typeof EventService>, options: SubscribeOptions): AsyncGenerator<DeliveredEvent, void, undefined> {
  if (!options.directoryId) throw new TypeError("directoryId is required");
  const typeFiltered = (options.filter?.types?.length ?? 0) > 0;
  const checker = new DeliveryChecker({
    dedupeWindow: options.dedupeWindow ?? 10_000,
    checkSequence: options.checkSequence === undefined || options.checkSequence === "auto" ? !typeFiltered : options.checkSequence,
  });
  const backoff: BackoffOptions = { initialMs: 200, maxMs: 10_000, ...options.backoff };
  const outer = options.signal;
  let cursor = options.cursor || undefined;
  const startTime = toTimestamp(options.startTime);
  let failures = 0;
  let connections = 0;
  const acknowledger = options.acknowledge ? new Acknowledger(options.directoryId, options.acknowledge) : undefined;
  try {
    yield* follow();
  } finally {
    await acknowledger?.close();
  }

  async function* follow(): AsyncGenerator<DeliveredEvent, void, undefined> {
    while (!outer?.aborted) {
      // One controller per connection, so leaving the loop (break, throw, return) closes it.
      const call = new AbortController();
      const onAbort = () => call.abort(outer?.reason);
      outer?.addEventListener("abort", onAbort, { once: true });
      let failure: unknown;
      let planned = false;
      try {
        const stream = client.streamEvents(
          {
            directoryId: options.directoryId,
            cursor: cursor ?? "",
            startTime: cursor === undefined ? startTime : undefined,
            filter: options.filter ? { types: options.filter.types ?? [], subjectId: options.filter.subjectId ?? "" } : undefined,
            signalCaughtUp: options.onCaughtUp !== undefined,
          },
          {
            signal: call.signal,
            timeoutMs: 0,
            onHeader: () => options.onConnected?.({ reconnected: connections++ > 0, cursor }),
          },
        );
        for await (const response of stream) {
          failures = 0;
          const event = response.event;
          if (event === undefined) {
            // Nothing to deliver (caught up, or a keep-alive); its cursor is still progress.
            if (response.cursor) cursor = response.cursor;
            // Everything before it was handled (this generator was asked for more).
            if (response.cursor) acknowledger?.handled(response.cursor);
            if (response.caughtUp) options.onCaughtUp?.({ cursor, reconnected: connections > 1 });
            continue;
          }
          // Throws SequenceGapError before anything after the hole is delivered.
          const verdict = checker.check(event, cursor);
          if (verdict === "duplicate") {
            continue;
          }
          yield { event, cursor: response.cursor };
          // The caller's loop body has returned: the event is applied.
          acknowledger?.handled(response.cursor);
          checker.accept(event);
          cursor = response.cursor;
        }
        // The server ended a stream that should follow live (e.g. a graceful shutdown): reconnect.
        failure = new ConnectError("event stream ended by the server", Code.Unavailable);
        planned = true;
      } catch (error) {
        if (outer?.aborted) return;
        const resync = resyncErrorOf(error, cursor);
        if (resync) throw resync;
        if (isPermanent(error)) throw error;
        failure = error;
      } finally {
        outer?.removeEventListener("abort", onAbort);
        call.abort();
      }
      if (options.maxReconnects !== undefined && failures >= options.maxReconnects) throw failure;
      const delayMs = backoffDelay(failures, backoff);
      failures++;
      options.onReconnect?.({ attempt: failures, delayMs, error: failure, planned, cursor });
      try {
        await sleep(delayMs, outer);
      } catch {
        return;
      }
    }
  }
}
