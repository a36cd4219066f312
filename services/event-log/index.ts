// The event log: the outbox tables (outbox_events, append-only; outbox_pending; event_positions;
// event_log_floors) are read and written here and nowhere else, apart from the use cases
// appending events in their own transactions. The relay takes batches and marks them
// published; EventService and the operator tools read the published log and the backlog.
export { EVENTS_CHANNEL, OUTBOX_CHANNEL, OUTBOX_COLUMNS, toStoredEvent, type EventRow, type Queryable } from "./rows.ts";
export { EventLog, type EventLogFloor, type EventQuery } from "./published-events.ts";
export {
  backlogDirectories,
  markPublished,
  oldestUnpublished,
  pruneReplayWindow,
  subjectsUnpublished,
  type Candidate,
  type ParkedEvent,
  type PublicationMark,
} from "./relay-queue.ts";
export { lagFigures, outboxLag, parkedSubjects, unpark, type LagFigures, type LeaseStatus, type OutboxLag, type ParkedSubject, type StuckSubject } from "./backlog.ts";
