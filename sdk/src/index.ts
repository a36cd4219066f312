// @roster/sdk: everything a consumer touches is exported from here. The generated messages,
// enums and service descriptors of the four APIs are re-exported whole (one copy: the
// "@roster/sdk/gen/..." subpaths are the same modules).
export { createRosterClients, createRosterTransport, isIdempotentMethod, isRetryableError } from "./client.ts";
export type { RosterClientOptions, RosterClients, TransportKind } from "./client.ts";
export type { BackoffOptions } from "./backoff.ts";

export { subscribe } from "./subscribe.ts";
export type { DeliveredEvent, ReconnectInfo, SubscribeOptions } from "./subscribe.ts";
export type { AcknowledgeOptions } from "./acknowledge.ts";

export { listDirectories, listEvents, listGroupMembers, listGroups, listScimAuditRecords, listUserGroups, listUsers, paginate } from "./pagination.ts";

export { CursorStoreError, fileCursorStore, memoryCursorStore } from "./cursor-store.ts";
export type { CursorStore } from "./cursor-store.ts";

export { SequenceGapError } from "./ordering.ts";
export { ResyncRequiredError } from "./resync.ts";
export { applyEvent, isAfterSnapshot, resync } from "./snapshot.ts";
export type { DirectorySnapshot, SnapshotUserState } from "./snapshot.ts";

export { createLifecycleConsumer, decodeLifecycleMessage, LifecycleMessageError } from "./kafka.ts";
export type { CloudEventHeaders, LifecycleConsumer, LifecycleConsumerOptions, LifecycleEventContext, LifecycleMessage } from "./kafka.ts";

export {
  CLOUDEVENTS_TYPE_PREFIX,
  EVENT_TYPES,
  LIFECYCLE_TOPICS,
  canonicalOf,
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

export { toDate, toTimestamp } from "./time.ts";
export { toJsonString, toJsonValue } from "./json.ts";

// Errors: every failed call rejects with a ConnectError; `code` says what kind.
export { Code, ConnectError } from "@connectrpc/connect";
export type { CallOptions, Client, Transport } from "@connectrpc/connect";
export { timestampDate, timestampFromDate, timestampMs, timestampNow } from "@bufbuild/protobuf/wkt";
export type { Timestamp } from "@bufbuild/protobuf/wkt";

export * from "./gen/roster/directory/v1/directory_pb.js";
export * from "./gen/roster/mapping/v1/mapping_pb.js";
export * from "./gen/roster/events/v1/events_pb.js";
export * from "./gen/roster/consumers/v1/consumers_pb.js";
