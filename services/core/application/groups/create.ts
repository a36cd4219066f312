// Creating a group with its initial members (SCIM POST /Groups).
import { checkId } from "../../domain/directory.ts";
import { groupEvent, memberParts, type NewEvent } from "../../domain/events.ts";
import { newId } from "../../../platform/ids.ts";
import { groupFields, type GroupRecord } from "../../domain/resources.ts";
import type { ResourceContext } from "../resource-context.ts";

export async function createGroup(ctx: ResourceContext, directoryId: string, raw: unknown, memberUserIds: readonly string[]): Promise<GroupRecord> {
  const dirId = checkId("directory_id", directoryId);
  const fields = groupFields(raw);
  return ctx.store.transact(async (repos) => {
    await ctx.directory(repos, dirId);
    const now = new Date();
    // One group.created per part of the initial members: the group's version counts them.
    const parts = memberParts([...new Set(memberUserIds.map((m) => m.toLowerCase()))]);
    const group: GroupRecord = { id: newId(), directoryId: dirId, ...fields, memberCount: 0, version: parts.length, createdAt: now, updatedAt: now, deletedAt: null };
    await repos.groups.insert(group);
    const events: NewEvent[] = [];
    const created = await ctx.changeMembers(repos, group, { add: memberUserIds, remove: [] }, now, events, false);
    events.unshift(
      ...parts.map((p) => groupEvent({ ...created, version: p.part }, p.part, "group.created", { memberUserIds: p.ids, part: p.part, parts: p.parts })),
    );
    await repos.outbox.append(events);
    return created;
  });
}
