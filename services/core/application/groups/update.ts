// Changing a group's attributes and members in one transaction (SCIM PUT /Groups/{id}, the member RPCs).
import { checkId, isId } from "../../domain/directory.ts";
import { checkNotDeleted, checkVersion, groupFields, refuseIdChange, type GroupRecord } from "../../domain/resources.ts";
import { type ResourceContext, type MemberChanges } from "../resource-context.ts";

/** Attribute changes (rename...) and member changes of one group, all or nothing. */
export async function updateGroup(
  ctx: ResourceContext,
  directoryId: string,
  id: string,
  change: { resource?: unknown; members: MemberChanges; expectedVersion?: number | undefined },
): Promise<GroupRecord> {
  const dirId = checkId("directory_id", directoryId);
  if (change.resource !== undefined) refuseIdChange(change.resource, id);
  const fields = change.resource === undefined ? undefined : groupFields(change.resource);
  const mayRemove = change.members.replaceAll !== undefined || change.members.remove.length > 0;
  return ctx.deprovisioning(dirId, mayRemove, async (repos, gate) => {
    const current = checkNotDeleted(isId(id) ? await repos.groups.getForUpdate(dirId, id.toLowerCase()) : undefined, "group", id);
    checkVersion(current.version, change.expectedVersion, "group");
    return ctx.writeGroup(repos, gate, current, fields, change.members);
  });
}
