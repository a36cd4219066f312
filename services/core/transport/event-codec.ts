// The protobuf `roster.events.v1.Event` envelope of outbox rows: what the relay publishes to
// Kafka and what EventService serves (as stored, to a protobuf stream). It is built once,
// when the change is written (storedEventMessage), from the payload JSON the use case wrote
// (the subject's new state and what changed), and stored with the row; rows from before the
// outbox stored it are built from their payload when read. Snapshots go through the same
// converters as the directory RPCs, so a consumer sees one User shape everywhere.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { UserState as PbUserState } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import * as ev from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { EventSchema, SubjectType, type Event } from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { AttributeValueSchema, CanonicalUserSchema, StringListSchema, type AttributeValue, type CanonicalUser } from "@roster/sdk/gen/roster/mapping/v1/mapping_pb.js";
import { withPosition, type StoredEvent } from "../../event-log/index.ts";
import type { GroupRecord, UserRecord } from "../domain/resources.ts";
import type { NewEvent } from "../domain/events.ts";
import { groupToPb, userToPb } from "./convert.ts";
import { holdDecisionToPb, policyToPb } from "./brake-service.ts";

type Snapshot = Record<string, unknown>;

/** What an Event is built from: an outbox row's fields, stored or about to be. */
type EventFields = Pick<StoredEvent, "id" | "directoryId" | "subjectType" | "subjectId" | "sequence" | "type" | "payload" | "occurredAt">;

function date(value: unknown): Date {
  return new Date(typeof value === "string" ? value : 0);
}

function optionalDate(value: unknown): Date | null {
  return typeof value === "string" ? new Date(value) : null;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

function obj(value: unknown): Snapshot {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Snapshot) : {};
}

function userFromSnapshot(s: Snapshot): UserRecord {
  return {
    ...(s as unknown as UserRecord),
    resource: obj(s.resource),
    createdAt: date(s.createdAt),
    updatedAt: date(s.updatedAt),
    deletedAt: optionalDate(s.deletedAt),
  };
}

function groupFromSnapshot(s: Snapshot): GroupRecord {
  return {
    ...(s as unknown as GroupRecord),
    resource: obj(s.resource),
    memberCount: Number(s.memberCount ?? 0),
    createdAt: date(s.createdAt),
    updatedAt: date(s.updatedAt),
    deletedAt: optionalDate(s.deletedAt),
  };
}

function groupRef(value: unknown): { id: string; externalId: string; displayName: string } {
  const g = obj(value);
  return { id: String(g.id ?? ""), externalId: typeof g.externalId === "string" ? g.externalId : "", displayName: String(g.displayName ?? "") };
}

const CANONICAL_STATES: Record<string, PbUserState> = { active: PbUserState.ACTIVE, inactive: PbUserState.INACTIVE, deleted: PbUserState.DELETED };

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function attributeFromJson(value: unknown): AttributeValue | undefined {
  const a = obj(value);
  switch (a.type) {
    case "string": return typeof a.value === "string" ? create(AttributeValueSchema, { kind: { case: "stringValue", value: a.value } }) : undefined;
    case "bool": return typeof a.value === "boolean" ? create(AttributeValueSchema, { kind: { case: "boolValue", value: a.value } }) : undefined;
    case "number": return typeof a.value === "number" ? create(AttributeValueSchema, { kind: { case: "numberValue", value: a.value } }) : undefined;
    case "time": return typeof a.value === "string" ? create(AttributeValueSchema, { kind: { case: "timeValue", value: timestampFromDate(new Date(a.value)) } }) : undefined;
    case "stringList": return create(AttributeValueSchema, { kind: { case: "stringList", value: create(StringListSchema, { values: strings(a.value) }) } });
    default: return undefined;
  }
}

/**
 * The payload's `canonical` (services/mapping's canonical user as event JSON) as the
 * `roster.mapping.v1.CanonicalUser` message; undefined for events written without one.
 * Read defensively: stored rows outlive the code that wrote them.
 */
export function canonicalFromJson(value: unknown): CanonicalUser | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const c = obj(value);
  const customAttributes: Record<string, AttributeValue> = {};
  for (const [name, v] of Object.entries(obj(c.customAttributes))) {
    const attribute = attributeFromJson(v);
    if (attribute) customAttributes[name] = attribute;
  }
  return create(CanonicalUserSchema, {
    id: text(c.id),
    directoryId: text(c.directoryId),
    externalId: text(c.externalId),
    username: text(c.username),
    emails: strings(c.emails),
    givenName: text(c.givenName),
    familyName: text(c.familyName),
    displayName: text(c.displayName),
    state: CANONICAL_STATES[text(c.state)] ?? PbUserState.UNSPECIFIED,
    jobTitle: text(c.jobTitle),
    department: text(c.department),
    employeeNumber: text(c.employeeNumber),
    managerId: text(c.managerId),
    groupIds: strings(c.groupIds),
    roles: strings(c.roles),
    customAttributes,
    version: BigInt(typeof c.version === "number" && Number.isSafeInteger(c.version) ? c.version : 0),
  });
}

/** A split member list's part number and count (0 and 0 in rows written before parts existed). */
function partOf(p: Record<string, unknown>): { part: number; parts: number } {
  const n = (v: unknown) => (typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 1_000_000 ? v : 0);
  return { part: n(p.part), parts: n(p.parts) };
}

function payloadOf(row: EventFields): Event["payload"] {
  const p = row.payload ?? {};
  if (row.subjectType === "user") {
    const user = userToPb(userFromSnapshot(obj(p.user)));
    const canonical = canonicalFromJson(p.canonical);
    switch (row.type) {
      case "user.created":
        return { case: "userCreated", value: create(ev.UserCreatedSchema, { user, canonical }) };
      case "user.updated":
        return { case: "userUpdated", value: create(ev.UserUpdatedSchema, { user, changedAttributes: strings(p.changedAttributes), canonical }) };
      case "user.deactivated":
        return { case: "userDeactivated", value: create(ev.UserDeactivatedSchema, { user, canonical }) };
      case "user.reactivated":
        return { case: "userReactivated", value: create(ev.UserReactivatedSchema, { user, canonical }) };
      case "user.deleted":
        return { case: "userDeleted", value: create(ev.UserDeletedSchema, { user, canonical }) };
      case "user.added_to_group":
        return { case: "userAddedToGroup", value: create(ev.UserAddedToGroupSchema, { user, group: groupRef(p.group), canonical }) };
      case "user.removed_from_group":
        return { case: "userRemovedFromGroup", value: create(ev.UserRemovedFromGroupSchema, { user, group: groupRef(p.group), canonical }) };
      case "user.roles_changed":
        // The payload names them rolesAdded/rolesRemoved (services/mapping rolesPayload).
        return {
          case: "userRolesChanged",
          value: create(ev.UserRolesChangedSchema, { user, roles: strings(p.roles), addedRoles: strings(p.rolesAdded), removedRoles: strings(p.rolesRemoved), canonical }),
        };
    }
  } else if (row.subjectType === "directory") {
    return directoryPayload(row.type, p);
  } else {
    const group = groupToPb(groupFromSnapshot(obj(p.group)));
    switch (row.type) {
      case "group.created":
        return { case: "groupCreated", value: create(ev.GroupCreatedSchema, { group, memberUserIds: strings(p.memberUserIds), ...partOf(p) }) };
      case "group.updated":
        return { case: "groupUpdated", value: create(ev.GroupUpdatedSchema, { group, changedAttributes: strings(p.changedAttributes) }) };
      case "group.deleted":
        return { case: "groupDeleted", value: create(ev.GroupDeletedSchema, { group }) };
      case "group.members_added":
        return { case: "groupMembersAdded", value: create(ev.GroupMembersAddedSchema, { group, userIds: strings(p.userIds), ...partOf(p) }) };
      case "group.members_removed":
        return { case: "groupMembersRemoved", value: create(ev.GroupMembersRemovedSchema, { group, userIds: strings(p.userIds), ...partOf(p) }) };
    }
  }
  // A type this build does not know (written by a newer core): the envelope still travels.
  return { case: undefined };
}

function bigint(value: unknown): bigint {
  return BigInt(typeof value === "number" && Number.isSafeInteger(value) ? value : 0);
}

/** The deprovisioning brake's events (services/core/application/brake.ts writes them). */
function directoryPayload(type: string, p: Snapshot): Event["payload"] {
  const crossing = {
    policy: policyToPb(obj(p.policy)),
    reason: text(p.reason),
    deprovisionsInWindow: bigint(p.deprovisionsInWindow),
    activeUsers: bigint(p.activeUsers),
    groupId: text(p.groupId),
    groupMembersRemoved: bigint(p.groupMembersRemoved),
    groupMembersBefore: bigint(p.groupMembersBefore),
  };
  switch (type) {
    case "directory.deprovisioning_held":
      return { case: "deprovisioningHeld", value: create(ev.DeprovisioningHeldSchema, crossing) };
    case "directory.deprovisioning_alerted":
      return { case: "deprovisioningAlerted", value: create(ev.DeprovisioningAlertedSchema, crossing) };
    case "directory.deprovisioning_released": {
      const until = optionalDate(p.releasedUntil);
      return {
        case: "deprovisioningReleased",
        value: create(ev.DeprovisioningReleasedSchema, { decision: holdDecisionToPb(text(p.decision)), releasedUntil: until ? timestampFromDate(until) : undefined }),
      };
    }
  }
  return { case: undefined };
}

const SUBJECT_TYPES = { user: SubjectType.USER, group: SubjectType.GROUP, directory: SubjectType.DIRECTORY } as const;

/**
 * The Event of an outbox row; `position` overrides the row's (the relay sets it before
 * publication). The message the outbox stored, with its position; a row written before the
 * outbox stored messages is built from its payload.
 */
export function eventToPb(row: StoredEvent, position: bigint | null = row.position): Event {
  if (row.event) return fromBinary(EventSchema, withPosition(row.event, position ?? 0n));
  return eventFromPayload(row, position);
}

function eventFromPayload(row: EventFields, position: bigint | null): Event {
  return create(EventSchema, {
    id: row.id,
    directoryId: row.directoryId,
    subjectType: SUBJECT_TYPES[row.subjectType] ?? SubjectType.UNSPECIFIED,
    subjectId: row.subjectId,
    sequence: row.sequence,
    type: row.type,
    time: timestampFromDate(row.occurredAt),
    position: position ?? 0n,
    payload: payloadOf(row),
  });
}

export function encodeEvent(event: Event): Uint8Array {
  return toBinary(EventSchema, event);
}

/**
 * The Event of an outbox row, encoded: the message the outbox stored with its position
 * appended, as the relay sends it (no decoding); a row from before the outbox stored it is
 * built from its payload.
 */
export function encodedEventAt(row: StoredEvent, position: bigint | null = row.position): Uint8Array {
  return row.event ? withPosition(row.event, position ?? 0n) : encodeEvent(eventFromPayload(row, position));
}

/**
 * A new event as the outbox stores it: the Event message at position 0, built from the
 * payload as stored (JSON text), so that it says exactly what a row read back would.
 */
export function storedEventMessage(event: NewEvent, payloadJson: string): Uint8Array {
  const payload = JSON.parse(payloadJson) as Record<string, unknown>;
  return encodeEvent(eventFromPayload({ ...event, sequence: BigInt(event.sequence), payload }, null));
}
