// The event log: the outbox tables (outbox_events, append-only; outbox_pending; event_positions;
// event_log_floors) are read and written here and nowhere else, apart from the use cases
// appending events in their own transactions (and the snapshot reading its head position in
// its own, resource-repositories.ts). The relay takes batches and marks them
// published; EventService and the operator tools read the published log and the backlog.
export { EVENTS_CHANNEL, OUTBOX_CHANNEL, OUTBOX_COLUMNS, toStoredEvent, type EventRow } from "./rows.ts";
export { cloudEventHeaders, MAX_EVENT_BYTES, withPosition, type StoredEvent } from "./stored-event.ts";
export { EventLog, type EventLogFloor } from "./published-events.ts";
export {
  backlogDirectories,
  markPublished,
  oldestUnpublished,
  pruneReplayWindow,
  subjectsUnpublished,
  type Candidate,
  type ParkedEvent,
} from "./relay-queue.ts";
export { lagFigures, outboxLag, parkedSubjects, unpark } from "./backlog.ts";
export { publishedLeavers } from "./leavers.ts";
