// Deleting a user: it leaves every group, then becomes a tombstone.
import { checkId, isId } from "../../domain/directory.ts";
import { groupEvent, groupRef, type GroupRef, type NewEvent } from "../../domain/events.ts";
import { checkNotDeleted, checkVersion, type GroupRecord, type UserRecord } from "../../domain/resources.ts";
import { type ResourceContext, type UserFact } from "../resource-context.ts";

/** Deletes a user: leaves every group (each a fact on both sides), then a tombstone. */
export async function deleteUser(ctx: ResourceContext, directoryId: string, id: string, expectedVersion?: number): Promise<UserRecord> {
  const dirId = checkId("directory_id", directoryId);
  return ctx.deprovisioning(dirId, true, async (repos, gate) => {
    // Groups before the user, as every member change locks them: the user's groups are
    // found without a lock, locked in id order, then the user, and the groups read again
    // under its lock (a group joined in between is locked last; a deadlock that can still
    // cause is retried by the store).
    const seen = checkNotDeleted(isId(id) ? await repos.users.get(dirId, id.toLowerCase()) : undefined, "user", id);
    const locked = new Map<string, GroupRecord | undefined>();
    for (const groupId of await repos.memberships.groupsOf(seen.id)) locked.set(groupId, await repos.groups.getForUpdate(dirId, groupId));
    const current = checkNotDeleted(await repos.users.getForUpdate(dirId, seen.id), "user", id);
    checkVersion(current.version, expectedVersion, "user");
    const now = new Date();
    // Deleting an active user deprovisions them; an inactive one was counted when deactivated.
    const brakeEvents = gate ? await gate.check(repos, { kind: "users", count: current.active ? 1 : 0 }, now) : [];
    const groupEvents: NewEvent[] = [];
    const facts: UserFact[] = [];
    let version = current.version;
    const groupIds = await repos.memberships.groupsOf(current.id);
    // Each removal event states the groups the user is still in after it.
    const remaining: GroupRef[] = [];
    const groups: GroupRecord[] = [];
    for (const groupId of groupIds) {
      const group = locked.has(groupId) ? locked.get(groupId) : await repos.groups.getForUpdate(dirId, groupId);
      if (!group) continue;
      groups.push(group);
      remaining.push(groupRef(group));
    }
    for (const group of groups) {
      const removed = await repos.memberships.remove(group.id, [current.id]);
      const memberCount = await repos.memberships.adjustCount(group.id, -removed.length);
      const updatedGroup: GroupRecord = { ...group, memberCount, version: group.version + 1, updatedAt: now };
      await repos.groups.update(updatedGroup);
      groupEvents.push(groupEvent(updatedGroup, updatedGroup.version, "group.members_removed", { userIds: [current.id], part: 1, parts: 1 }));
      remaining.splice(remaining.findIndex((g) => g.id === group.id), 1);
      facts.push({ user: { ...current, updatedAt: now, version: ++version }, groups: [...remaining], type: "user.removed_from_group", extra: { group: groupRef(group) } });
    }
    const deleted: UserRecord = { ...current, state: "deleted", active: false, deletedAt: now, updatedAt: now, version: version + 1 };
    facts.push({ user: deleted, groups: [], type: "user.deleted" });
    const userEvents = await ctx.userEvents(repos, dirId, facts);
    // Per removal, the group's event then the user's (as before).
    const events = groupEvents.flatMap((g, i) => [g, userEvents[i]!]);
    events.push(userEvents.at(-1)!, ...brakeEvents);
    await repos.users.update(deleted);
    await repos.outbox.append(events);
    return deleted;
  });
}
