// Deactivating and reactivating a user.
import { checkId, isId } from "../../domain/directory.ts";
import { checkNotDeleted, checkVersion, type UserRecord } from "../../domain/resources.ts";
import type { ResourceContext } from "../resource-context.ts";

/** Deactivation (active=false) and reactivation; a no-op when already in that state. */
export async function setUserActive(ctx: ResourceContext, directoryId: string, id: string, active: boolean, expectedVersion?: number): Promise<UserRecord> {
  const dirId = checkId("directory_id", directoryId);
  return ctx.deprovisioning(dirId, !active, async (repos, gate) => {
    const current = checkNotDeleted(isId(id) ? await repos.users.getForUpdate(dirId, id.toLowerCase()) : undefined, "user", id);
    checkVersion(current.version, expectedVersion, "user");
    if (current.active === active) return current;
    const brakeEvents = gate ? await gate.check(repos, { kind: "users", count: 1 }, new Date()) : [];
    const user: UserRecord = {
      ...current,
      active,
      state: active ? "active" : "inactive",
      resource: { ...current.resource, active },
      version: current.version + 1,
      updatedAt: new Date(),
    };
    await repos.users.update(user);
    await repos.outbox.append([...(await ctx.userEvents(repos, dirId, [{ user, type: active ? "user.reactivated" : "user.deactivated" }])), ...brakeEvents]);
    return user;
  });
}
