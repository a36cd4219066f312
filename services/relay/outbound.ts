// What the relay sends for one outbox row: the event on its event topic and, for a user or
// group, the subject's state after it on the compacted state topic (a tombstone when the
// event deletes the subject), each in its topic's value format. Pure: the state is derived
// from the event alone, so the state topic agrees with the event topic by construction.
import { create, toBinary, toJson, type JsonValue } from "@bufbuild/protobuf";
import { EventSchema, SnapshotUserSchema, type Event } from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { SubjectStateSchema, type SubjectState } from "@roster/sdk/gen/roster/events/v1/state_pb.js";
import { cloudEventHeaders, withPosition, type StoredEvent } from "../event-log/index.ts";
import type { ValueFormat } from "../config.ts";
import type { OutboundMessage } from "./publisher.ts";

/**
 * Builds the contract's Event for an outbox row at a position. The core owns the conversion
 * (it is what EventService serves too); the composition root hands it to the relay.
 */
export type EventEncoder = (row: StoredEvent, position: bigint) => Event;

export interface LifecycleTopics {
  readonly userTopic: string;
  readonly groupTopic: string;
  /** The compacted state topics; absent, no state is published. */
  readonly userStateTopic?: string;
  readonly groupStateTopic?: string;
  /** Value format by topic name; `protobuf` for a topic not named. */
  readonly formats?: Readonly<Record<string, ValueFormat>>;
}

/**
 * A value format's content-type. `protobuf`: the binary message, CloudEvents binary mode.
 * `json`: the message in protobuf's JSON mapping, binary mode. `cloudevents-json`:
 * CloudEvents structured mode, the JSON mapping as `data`. Every format keeps the `ce_*`
 * headers, so routing by header works whatever the value.
 */
const CONTENT_TYPES: Record<ValueFormat, string> = {
  protobuf: "application/protobuf",
  json: "application/json",
  "cloudevents-json": "application/cloudevents+json",
};

/** The `ce_type` of state records: one per kind, whichever event produced the state. */
const STATE_TYPES = { user: "io.roster.user.state", group: "io.roster.group.state" } as const;

/** The header of a state record that carries its sequence (the subject's version). */
export const STATE_SEQUENCE_HEADER = "roster_sequence";

/** The value and headers of one message in its topic's format. */
function encoded(format: ValueFormat, headers: Record<string, string>, binary: () => Uint8Array, json: () => JsonValue): { value: Uint8Array; headers: Record<string, string> } {
  const withType = { ...headers, "content-type": CONTENT_TYPES[format] };
  if (format === "protobuf") return { value: binary(), headers: withType };
  if (format === "json") return { value: Buffer.from(JSON.stringify(json())), headers: withType };
  const structured = {
    specversion: headers.ce_specversion,
    id: headers.ce_id,
    source: headers.ce_source,
    type: headers.ce_type,
    subject: headers.ce_subject,
    time: headers.ce_time,
    datacontenttype: "application/json",
    data: json(),
  };
  return { value: Buffer.from(JSON.stringify(structured)), headers: withType };
}

/** An outbox row's Event at a position, built (or decoded) once and only when asked for. */
export function eventAt(row: StoredEvent, position: bigint, toEvent: EventEncoder): () => Event {
  let event: Event | undefined;
  return () => (event ??= toEvent(row, position));
}

/**
 * The event on its event topic (user events on the user topic; group and directory events
 * on the group topic). In protobuf, the message the outbox stored goes out as written, its
 * position added: decoded only for a JSON format.
 */
export function eventMessage(row: StoredEvent, position: bigint, event: () => Event, topics: LifecycleTopics): OutboundMessage {
  const topic = row.subjectType === "user" ? topics.userTopic : topics.groupTopic;
  const format = topics.formats?.[topic] ?? "protobuf";
  const binary = () => (row.event ? withPosition(row.event, position) : toBinary(EventSchema, event()));
  const { value, headers } = encoded(format, cloudEventHeaders(row), binary, () => toJson(EventSchema, event()));
  return { topic, key: row.subjectId, value, headers };
}

/**
 * The subject's state after `event`: a user with its canonical form, a group with its member
 * count; null when the event deletes the subject; undefined when it has no state (a directory
 * event, or a payload this build does not know).
 */
function stateAfter(event: Event): SubjectState | null | undefined {
  const p = event.payload;
  const common = {
    directoryId: event.directoryId,
    subjectType: event.subjectType,
    subjectId: event.subjectId,
    sequence: event.sequence,
    eventId: event.id,
    eventType: event.type,
    eventTime: event.time,
    position: event.position,
  };
  switch (p.case) {
    case "userDeleted":
    case "groupDeleted":
      return null;
    case "userCreated":
    case "userUpdated":
    case "userDeactivated":
    case "userReactivated":
    case "userAddedToGroup":
    case "userRemovedFromGroup":
    case "userRolesChanged":
      return create(SubjectStateSchema, { ...common, state: { case: "user", value: create(SnapshotUserSchema, { user: p.value.user, canonical: p.value.canonical }) } });
    case "groupCreated":
    case "groupUpdated":
    case "groupMembersAdded":
    case "groupMembersRemoved":
      return p.value.group ? create(SubjectStateSchema, { ...common, state: { case: "group", value: p.value.group } }) : undefined;
    default:
      return undefined;
  }
}

/** The state record that goes with an event, if its subject has a state topic. */
function stateMessage(row: StoredEvent, event: () => Event, topics: LifecycleTopics): OutboundMessage | undefined {
  const topic = row.subjectType === "user" ? topics.userStateTopic : row.subjectType === "group" ? topics.groupStateTopic : undefined;
  if (topic === undefined) return undefined;
  const state = stateAfter(event());
  if (state === undefined) return undefined;
  // The sequence in a header too: a tombstone has no value to carry it.
  const headers: Record<string, string> = { ...cloudEventHeaders(row), ce_type: STATE_TYPES[row.subjectType as "user" | "group"], [STATE_SEQUENCE_HEADER]: row.sequence.toString() };
  if (state === null) {
    // A tombstone: no value, so no content-type; compaction keeps it for delete.retention.ms.
    delete headers["content-type"];
    return { topic, key: row.subjectId, value: null, headers };
  }
  const out = encoded(topics.formats?.[topic] ?? "protobuf", headers, () => toBinary(SubjectStateSchema, state), () => toJson(SubjectStateSchema, state));
  return { topic, key: row.subjectId, value: out.value, headers: out.headers };
}

/** Everything the relay sends for one row, event first: the event, then the state after it. */
export function outboundMessages(row: StoredEvent, position: bigint, toEvent: EventEncoder, topics: LifecycleTopics): OutboundMessage[] {
  const event = eventAt(row, position, toEvent);
  const state = stateMessage(row, event, topics);
  const message = eventMessage(row, position, event, topics);
  return state ? [message, state] : [message];
}
