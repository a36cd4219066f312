// Patching a user (SCIM PATCH /Users/{id}).
import { checkId, isId } from "../../domain/directory.ts";
import { checkNotDeleted, checkVersion, refuseIdChange, scimUser, userFields } from "../../domain/resources.ts";
import { applyPatch } from "../../domain/scim/patch.ts";
import type { JsonObject } from "../../../platform/scim/json.ts";
import { type ResourceContext, mentions, patchBody, type PatchOperation } from "../resource-context.ts";
import type { UserWithGroups } from "./read.ts";

/**
 * A SCIM PATCH of a user, in one transaction: the user is locked and read once, the
 * operations applied to it, and the difference written with its events. Concurrent patches
 * queue on the row lock instead of failing; only a stale expectedVersion is refused.
 */
export async function patchUser(ctx: ResourceContext, directoryId: string, id: string, operations: readonly PatchOperation[], expectedVersion?: number): Promise<UserWithGroups> {
  const dirId = checkId("directory_id", directoryId);
  const lenient = !(await ctx.directoryOf(dirId)).strict;
  // Only a patch that names `active` can deactivate: the others need no brake. One that does
  // takes the brake's lock only when the directory has a brake on.
  return ctx.deprovisioningUnlessBrakeOff(dirId, mentions(operations, "active"), async (repos, gate, brakeUnchecked) => {
    const locked = isId(id) ? await repos.users.getForUpdateWithGroups(dirId, id.toLowerCase()) : undefined;
    const current = checkNotDeleted(locked?.user, "user", id);
    const groups = locked!.groups;
    checkVersion(current.version, expectedVersion, "user");
    const result = applyPatch("User", scimUser(current, groups) as JsonObject, patchBody(operations), { lenient });
    if (!result.changed) return { user: current, groups };
    refuseIdChange(result.resource, current.id);
    return { user: await ctx.writeUser(repos, gate, current, userFields(result.resource), { groups, brakeUnchecked }), groups };
  });
}
