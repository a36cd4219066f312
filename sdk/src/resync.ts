// The server refused to resume where the caller asked: resuming would skip events.
import { Code, ConnectError } from "@connectrpc/connect";
import { CursorExpiredDetailSchema } from "./gen/roster/events/v1/events_pb.js";

/**
 * The position a consumer resumes from is no longer one the server can continue after
 * without skipping events. Rebuild your state with `resync(clients.events, directoryId)`
 * (./snapshot.ts), then subscribe again from the snapshot's cursor, applying events with
 * `applyEvent`.
 *
 * - reason "expired": the events after `cursor` fell out of the replay window and were
 *   deleted; `oldestCursor` is the oldest cursor still served.
 * - reason "ahead": `cursor` lies beyond every position the server has assigned (a cursor
 *   from another installation, or a database restored from an older backup).
 */
export class ResyncRequiredError extends Error {
  override readonly name = "ResyncRequiredError";
  readonly reason: "expired" | "ahead";
  /** The cursor (or start) that was refused; undefined for a start_time. */
  readonly cursor: string | undefined;
  /** The oldest cursor still served, when the server said (reason "expired"). */
  readonly oldestCursor: string | undefined;

  constructor(fields: { reason: "expired" | "ahead"; cursor: string | undefined; oldestCursor?: string | undefined; cause?: unknown }) {
    super(
      fields.reason === "expired"
        ? "the events after this cursor were deleted (older than the replay window): resynchronise, then resume from oldestCursor"
        : "this cursor is beyond the newest event the server has: resynchronise",
      { cause: fields.cause },
    );
    this.reason = fields.reason;
    this.cursor = fields.cursor;
    this.oldestCursor = fields.oldestCursor;
  }
}

/** The ResyncRequiredError a refused resume stands for, or undefined for any other error. */
export function resyncErrorOf(error: unknown, cursor: string | undefined): ResyncRequiredError | undefined {
  if (!(error instanceof ConnectError)) return undefined;
  if (error.code === Code.OutOfRange) return new ResyncRequiredError({ reason: "ahead", cursor, cause: error });
  if (error.code !== Code.FailedPrecondition) return undefined;
  const detail = error.findDetails(CursorExpiredDetailSchema)[0];
  if (detail === undefined) return undefined;
  return new ResyncRequiredError({ reason: "expired", cursor, oldestCursor: detail.oldestCursor || undefined, cause: error });
}
