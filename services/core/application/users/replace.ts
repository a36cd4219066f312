// Replacing a user (SCIM PUT /Users/{id}).
import { checkId, isId } from "../../domain/directory.ts";
import { checkNotDeleted, checkVersion, refuseIdChange, userFields, type UserRecord } from "../../domain/resources.ts";
import type { ResourceContext } from "../resource-context.ts";

export async function replaceUser(ctx: ResourceContext, directoryId: string, id: string, raw: unknown, expectedVersion?: number): Promise<UserRecord> {
  const dirId = checkId("directory_id", directoryId);
  refuseIdChange(raw, id);
  const fields = userFields(raw);
  return ctx.deprovisioning(dirId, !fields.active, async (repos, gate) => {
    const current = checkNotDeleted(isId(id) ? await repos.users.getForUpdate(dirId, id.toLowerCase()) : undefined, "user", id);
    checkVersion(current.version, expectedVersion, "user");
    return ctx.writeUser(repos, gate, current, fields);
  });
}
