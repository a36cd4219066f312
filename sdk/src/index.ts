// @roster/sdk: the public surface. Generated messages and service descriptors are at
// "@roster/sdk/gen/roster/{directory,mapping,events}/v1/*_pb.js"; the most used are
// re-exported here.
export { createRosterClients, createRosterTransport, isIdempotentMethod, isRetryableError } from "./client.ts";
export type { RosterClientOptions, RosterClients, TransportKind } from "./client.ts";
export type { BackoffOptions } from "./backoff.ts";

export { subscribe } from "./subscribe.ts";
export type { DeliveredEvent, SubscribeOptions } from "./subscribe.ts";

export { CursorStoreError, fileCursorStore, memoryCursorStore } from "./cursor-store.ts";
export type { CursorStore } from "./cursor-store.ts";

export { SequenceGapError } from "./ordering.ts";
export { ResyncRequiredError } from "./resync.ts";

export { createLifecycleConsumer, decodeLifecycleMessage, LifecycleMessageError } from "./kafka.ts";
export type { CloudEventHeaders, LifecycleConsumer, LifecycleConsumerOptions, LifecycleEventContext, LifecycleMessage } from "./kafka.ts";

export {
  CLOUDEVENTS_TYPE_PREFIX,
  EVENT_TYPES,
  LIFECYCLE_TOPICS,
  eventCaseOf,
  eventTypeOf,
  groupOf,
  isEvent,
  isGroupEvent,
  isUserEvent,
  payloadOf,
  userOf,
} from "./events.ts";
export type { EventCase, EventOf, EventType, GroupEventCase, PayloadOf, UserEventCase } from "./events.ts";

export { DirectoryService, UserState } from "./gen/roster/directory/v1/directory_pb.js";
export type { Group, User } from "./gen/roster/directory/v1/directory_pb.js";
export { MappingService } from "./gen/roster/mapping/v1/mapping_pb.js";
export { CursorExpiredDetailSchema, EventSchema, EventService, SubjectType } from "./gen/roster/events/v1/events_pb.js";
export type { CursorExpiredDetail, Event } from "./gen/roster/events/v1/events_pb.js";
