// Patching a group (SCIM PATCH /Groups/{id}).
import { checkId, isId } from "../../domain/directory.ts";
import { checkNotDeleted, checkVersion, groupFields, refuseIdChange, scimGroup, type GroupFields, type GroupRecord } from "../../domain/resources.ts";
import { applyPatch } from "../../domain/scim/patch.ts";
import type { JsonObject } from "../../../platform/scim/json.ts";
import { type ResourceContext, mentions, patchBody, type PatchOperation } from "../resource-context.ts";

/**
 * A SCIM PATCH of a group, in one transaction under the group's row lock, as patchUser.
 * The member list is never read: member operations become set-based changes.
 */
export async function patchGroup(ctx: ResourceContext, directoryId: string, id: string, operations: readonly PatchOperation[], expectedVersion?: number): Promise<GroupRecord> {
  const dirId = checkId("directory_id", directoryId);
  const lenient = !(await ctx.directoryOf(dirId)).strict;
  // Only a patch that names `members` can remove members: the others skip the brake's lock.
  return ctx.deprovisioning(dirId, mentions(operations, "members"), async (repos, gate) => {
    const current = checkNotDeleted(isId(id) ? await repos.groups.getForUpdate(dirId, id.toLowerCase()) : undefined, "group", id);
    checkVersion(current.version, expectedVersion, "group");
    const result = applyPatch("Group", scimGroup(current) as JsonObject, patchBody(operations), { lenient });
    if (!result.changed && !result.members) return current;
    let fields: GroupFields | undefined;
    if (result.changed) {
      const { members: _members, ...attributes } = result.resource;
      refuseIdChange(attributes, current.id);
      fields = groupFields(attributes);
    }
    const members = result.members ?? { add: [], remove: [] };
    return ctx.writeGroup(repos, gate, current, fields, members);
  });
}
