// Typed narrowing of the lifecycle event envelope.
//
// The payload is a discriminated union, so a switch narrows it by itself:
//
//   switch (event.payload.case) {
//     case "userDeactivated": revoke(event.payload.value.user); break;   // UserDeactivated
//     case "groupMembersAdded": add(event.payload.value.userIds); break; // GroupMembersAdded
//   }
//
// The helpers below narrow the whole event (for filters and guards) and map between the
// payload case ("userDeactivated") and the dotted type ("user.deactivated").
import type { Group, User } from "./gen/roster/directory/v1/directory_pb.js";
import type { CanonicalUser } from "./gen/roster/mapping/v1/mapping_pb.js";
import type { Event } from "./gen/roster/events/v1/events_pb.js";

/** The payload cases: "userCreated", "userDeactivated", "groupMembersAdded", ... */
export type EventCase = NonNullable<Event["payload"]["case"]>;

/** The payload message of one case, e.g. PayloadOf<"userDeleted"> is UserDeleted. */
export type PayloadOf<C extends EventCase> = Extract<Event["payload"], { case: C }>["value"];

/** An event whose payload is known to be one of the given cases. */
export type EventOf<C extends EventCase> = Event & { payload: Extract<Event["payload"], { case: C }> };

/** Kafka topics the relay publishes to. */
export const LIFECYCLE_TOPICS = {
  users: "roster.lifecycle.users.v1",
  groups: "roster.lifecycle.groups.v1",
} as const;

/** The dotted type of every payload case (also the CloudEvents type, prefixed "io.roster."). */
export const EVENT_TYPES = {
  userCreated: "user.created",
  userUpdated: "user.updated",
  userDeactivated: "user.deactivated",
  userReactivated: "user.reactivated",
  userDeleted: "user.deleted",
  userAddedToGroup: "user.added_to_group",
  userRemovedFromGroup: "user.removed_from_group",
  userRolesChanged: "user.roles_changed",
  groupCreated: "group.created",
  groupUpdated: "group.updated",
  groupDeleted: "group.deleted",
  groupMembersAdded: "group.members_added",
  groupMembersRemoved: "group.members_removed",
  deprovisioningHeld: "directory.deprovisioning_held",
  deprovisioningAlerted: "directory.deprovisioning_alerted",
  deprovisioningReleased: "directory.deprovisioning_released",
} as const satisfies Record<EventCase, string>;

export type EventType = (typeof EVENT_TYPES)[EventCase];

/** The CloudEvents `type` of an event: "io.roster." + its dotted type. */
export const CLOUDEVENTS_TYPE_PREFIX = "io.roster.";

/** True when the event's payload is one of the given cases; narrows `event.payload.value`. */
export function isEvent<C extends EventCase>(event: Event, ...cases: C[]): event is EventOf<C> {
  const c = event.payload.case;
  return c !== undefined && (cases as EventCase[]).includes(c);
}

/** The payload of the given case, or undefined when the event is another case. */
export function payloadOf<C extends EventCase>(event: Event, kind: C): PayloadOf<C> | undefined {
  if (event.payload.case !== kind) return undefined;
  const value: unknown = event.payload.value;
  return value as PayloadOf<C> | undefined;
}

/** The dotted type of a payload case ("userDeactivated" → "user.deactivated"). */
export function eventTypeOf(kind: EventCase): EventType {
  return EVENT_TYPES[kind];
}

/** The payload case of a dotted type, or undefined when the type is unknown. */
export function eventCaseOf(type: string): EventCase | undefined {
  for (const [kind, dotted] of Object.entries(EVENT_TYPES)) if (dotted === type) return kind as EventCase;
  return undefined;
}

const USER_CASES = [
  "userCreated",
  "userUpdated",
  "userDeactivated",
  "userReactivated",
  "userDeleted",
  "userAddedToGroup",
  "userRemovedFromGroup",
  "userRolesChanged",
] as const satisfies EventCase[];

const GROUP_CASES = ["groupCreated", "groupUpdated", "groupDeleted", "groupMembersAdded", "groupMembersRemoved"] as const satisfies EventCase[];

export type UserEventCase = (typeof USER_CASES)[number];
export type GroupEventCase = (typeof GROUP_CASES)[number];

export function isUserEvent(event: Event): event is EventOf<UserEventCase> {
  return isEvent(event, ...USER_CASES);
}

export function isGroupEvent(event: Event): event is EventOf<GroupEventCase> {
  return isEvent(event, ...GROUP_CASES);
}

/** The user's state after a user event (every user payload carries it). */
export function userOf(event: Event): User | undefined {
  return isUserEvent(event) ? event.payload.value.user : undefined;
}

/** The group's state after a group event (every group payload carries it). */
export function groupOf(event: Event): Group | undefined {
  return isGroupEvent(event) ? event.payload.value.group : undefined;
}

/**
 * The user in the directory's canonical form after a user event (`CanonicalUser`: the
 * fields the directory's mapping rules produce), or undefined for a group event or a payload
 * that does not carry one. `userOf(event)` is the same user as Roster stores it (`User`).
 */
export function canonicalOf(event: Event): CanonicalUser | undefined {
  if (!isUserEvent(event)) return undefined;
  const value: { canonical?: CanonicalUser } = event.payload.value;
  return value.canonical;
}
