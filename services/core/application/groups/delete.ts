// Deleting a group: its members leave, then it becomes a tombstone.
import { checkId, isId } from "../../domain/directory.ts";
import { groupEvent, type NewEvent } from "../../domain/events.ts";
import { checkNotDeleted, checkVersion, type GroupRecord } from "../../domain/resources.ts";
import type { ResourceContext } from "../resource-context.ts";

export async function deleteGroup(ctx: ResourceContext, directoryId: string, id: string, expectedVersion?: number): Promise<GroupRecord> {
  const dirId = checkId("directory_id", directoryId);
  return ctx.store.transact(async (repos) => {
    const current = checkNotDeleted(isId(id) ? await repos.groups.getForUpdate(dirId, id.toLowerCase()) : undefined, "group", id);
    checkVersion(current.version, expectedVersion, "group");
    const now = new Date();
    const events: NewEvent[] = [];
    const emptied = await ctx.changeMembers(repos, current, { replaceAll: [], add: [], remove: [] }, now, events, true);
    const deleted: GroupRecord = { ...emptied, deletedAt: now, updatedAt: now, version: emptied.version + 1 };
    events.push(groupEvent(deleted, deleted.version, "group.deleted"));
    await repos.groups.update(deleted);
    await repos.outbox.append(events);
    return deleted;
  });
}
