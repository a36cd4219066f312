// A rebuild point: a directory's state as of one event position (EventService.SnapshotDirectory),
// and the rule that replays the events after it without missing or double-applying any.
import type { Client } from "@connectrpc/connect";
import type { Group, User } from "./gen/roster/directory/v1/directory_pb.js";
import { SubjectType, type Event, type EventService } from "./gen/roster/events/v1/events_pb.js";
import type { CanonicalUser } from "./gen/roster/mapping/v1/mapping_pb.js";

export interface SnapshotUserState {
  readonly user: User;
  /** The user in the directory's canonical form, as of `user.version`; absent for deleted users. */
  readonly canonical: CanonicalUser | undefined;
}

/**
 * A directory's users, groups and memberships as of `cursor`. Deleted users and groups are
 * kept (state DELETED) so that every subject's version is known. Resume with
 * `subscribe(clients.events, { directoryId, cursor })` and pass each event to `applyEvent`.
 */
export interface DirectorySnapshot {
  readonly directoryId: string;
  /** The position the snapshot corresponds to, as the cursor StreamEvents/ListEvents take. */
  cursor: string;
  position: bigint;
  readonly users: Map<string, SnapshotUserState>;
  readonly groups: Map<string, Group>;
  /** Group id → member user ids. */
  readonly members: Map<string, Set<string>>;
}

/**
 * Reads a consistent snapshot of the directory: what a consumer calls when it starts fresh or
 * when `subscribe` ends with `ResyncRequiredError`. Then subscribe from `snapshot.cursor`.
 */
export async function resync(events: Client<typeof EventService>, directoryId: string, options: { signal?: AbortSignal } = {}): Promise<DirectorySnapshot> {
  const snapshot: DirectorySnapshot = { directoryId, cursor: "", position: 0n, users: new Map(), groups: new Map(), members: new Map() };
  let sawPosition = false;
  for await (const { item } of events.snapshotDirectory({ directoryId }, { signal: options.signal })) {
    switch (item.case) {
      case "position":
        snapshot.cursor = item.value.cursor;
        snapshot.position = item.value.position;
        sawPosition = true;
        break;
      case "user":
        if (item.value.user) snapshot.users.set(item.value.user.id, { user: item.value.user, canonical: item.value.canonical });
        break;
      case "group":
        snapshot.groups.set(item.value.id, item.value);
        snapshot.members.set(item.value.id, new Set());
        break;
      case "members": {
        const set = snapshot.members.get(item.value.groupId) ?? new Set<string>();
        for (const id of item.value.userIds) set.add(id);
        snapshot.members.set(item.value.groupId, set);
        break;
      }
    }
  }
  if (!sawPosition) throw new Error("the snapshot ended before its position");
  return snapshot;
}

/** The version a subject has in the snapshot (0 when it is not in it). */
function versionOf(snapshot: DirectorySnapshot, event: Event): bigint {
  if (event.subjectType === SubjectType.USER) return snapshot.users.get(event.subjectId)?.user.version ?? 0n;
  if (event.subjectType === SubjectType.GROUP) return snapshot.groups.get(event.subjectId)?.version ?? 0n;
  return 0n;
}

/**
 * The replay rule: an event changes the snapshot only when its sequence is greater than its
 * subject's version there. An event committed before the snapshot was read may be positioned
 * after it (positions are assigned at publication); the snapshot already reflects it.
 */
export function isAfterSnapshot(snapshot: DirectorySnapshot, event: Event): boolean {
  return event.sequence > versionOf(snapshot, event);
}

/**
 * Applies one event (read after the snapshot's cursor, in order) onto the snapshot; returns
 * whether it changed anything. Memberships follow the group's events, which state every
 * membership change. Directory events (the deprovisioning brake) change no state here.
 */
export function applyEvent(snapshot: DirectorySnapshot, event: Event): boolean {
  if (event.position > snapshot.position) snapshot.position = event.position;
  if (!isAfterSnapshot(snapshot, event)) return false;
  const p = event.payload;
  switch (p.case) {
    case "userCreated":
    case "userUpdated":
    case "userDeactivated":
    case "userReactivated":
    case "userDeleted":
    case "userAddedToGroup":
    case "userRemovedFromGroup":
    case "userRolesChanged":
      if (!p.value.user) return false;
      snapshot.users.set(event.subjectId, { user: p.value.user, canonical: p.case === "userDeleted" ? undefined : p.value.canonical });
      return true;
    case "groupCreated":
    case "groupUpdated":
    case "groupDeleted":
    case "groupMembersAdded":
    case "groupMembersRemoved": {
      if (!p.value.group) return false;
      snapshot.groups.set(event.subjectId, p.value.group);
      const members = snapshot.members.get(event.subjectId) ?? new Set<string>();
      snapshot.members.set(event.subjectId, members);
      if (p.case === "groupCreated") for (const id of p.value.memberUserIds) members.add(id);
      if (p.case === "groupMembersAdded") for (const id of p.value.userIds) members.add(id);
      if (p.case === "groupMembersRemoved") for (const id of p.value.userIds) members.delete(id);
      if (p.case === "groupDeleted") members.clear();
      return true;
    }
    default:
      return false;
  }
}
