// Lifecycle events: past-tense facts about one subject (a user or a group), numbered per
// subject by the subject's version after the change. They are written in the transaction
// that makes the change and published later by the relay.
import { newId } from "../../platform/ids.ts";
import type { GroupRecord, Json, UserRecord } from "./resources.ts";

/** Every event type, in dotted form: the one list filters are checked against. */
export const EVENT_TYPES = [
  "user.created",
  "user.updated",
  "user.deactivated",
  "user.reactivated",
  "user.deleted",
  "user.added_to_group",
  "user.removed_from_group",
  "user.roles_changed",
  "group.created",
  "group.updated",
  "group.deleted",
  "group.members_added",
  "group.members_removed",
  "directory.deprovisioning_held",
  "directory.deprovisioning_alerted",
  "directory.deprovisioning_released",
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export function isEventType(value: string): value is EventType {
  return (EVENT_TYPES as readonly string[]).includes(value);
}

export interface NewEvent {
  readonly id: string;
  readonly directoryId: string;
  readonly subjectType: "user" | "group" | "directory";
  readonly subjectId: string;
  readonly sequence: number;
  readonly type: EventType;
  readonly occurredAt: Date;
  /** The subject's new state and what changed; JSON, converted to protobuf at publication. */
  readonly payload: Json;
}

/**
 * The most member ids one event lists. A change with more (a 100,000-member group created,
 * emptied or deleted) becomes several events, its parts, so that no event grows with a
 * group's size: 1,000 ids are about 40 KB encoded, far below the relay's 512 KiB bound and
 * Kafka's 1 MiB default, while a 100,000-member change still takes only 100 events.
 */
export const MAX_MEMBER_IDS_PER_EVENT = 1000;

/** One part of a split member list: its ids, its number (1-based) and how many there are. */
export interface MemberPart {
  readonly ids: string[];
  readonly part: number;
  readonly parts: number;
}

/** Splits a change's member ids into parts of at most MAX_MEMBER_IDS_PER_EVENT (one part when empty). */
export function memberParts(ids: readonly string[]): MemberPart[] {
  const parts = Math.max(1, Math.ceil(ids.length / MAX_MEMBER_IDS_PER_EVENT));
  return Array.from({ length: parts }, (_, i) => ({
    ids: ids.slice(i * MAX_MEMBER_IDS_PER_EVENT, (i + 1) * MAX_MEMBER_IDS_PER_EVENT),
    part: i + 1,
    parts,
  }));
}

export interface GroupRef {
  readonly id: string;
  readonly externalId: string | null;
  readonly displayName: string;
}

export function groupRef(group: GroupRecord): GroupRef {
  return { id: group.id, externalId: group.externalId, displayName: group.displayName };
}

export function userSnapshot(user: UserRecord): Json {
  return {
    ...user,
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.updatedAt.toISOString(),
    deletedAt: user.deletedAt?.toISOString() ?? null,
  };
}

export function groupSnapshot(group: GroupRecord): Json {
  return {
    ...group,
    createdAt: group.createdAt.toISOString(),
    updatedAt: group.updatedAt.toISOString(),
    deletedAt: group.deletedAt?.toISOString() ?? null,
  };
}

export function userEvent(user: UserRecord, sequence: number, type: EventType, extra: Json = {}): NewEvent {
  return {
    id: newId(),
    directoryId: user.directoryId,
    subjectType: "user",
    subjectId: user.id,
    sequence,
    type,
    occurredAt: user.updatedAt,
    payload: { user: userSnapshot({ ...user, version: sequence }), ...extra },
  };
}

export function groupEvent(group: GroupRecord, sequence: number, type: EventType, extra: Json = {}): NewEvent {
  return {
    id: newId(),
    directoryId: group.directoryId,
    subjectType: "group",
    subjectId: group.id,
    sequence,
    type,
    occurredAt: group.updatedAt,
    payload: { group: groupSnapshot({ ...group, version: sequence }), ...extra },
  };
}

/** An event about the directory itself (its deprovisioning brake): the directory is the subject. */
export function directoryEvent(directoryId: string, sequence: number, type: EventType, at: Date, payload: Json): NewEvent {
  return { id: newId(), directoryId, subjectType: "directory", subjectId: directoryId, sequence, type, occurredAt: at, payload };
}
