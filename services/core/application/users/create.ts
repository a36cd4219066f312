// Creating a user (SCIM POST /Users), relinking a deleted one the IdP provisions again.
import { checkId } from "../../domain/directory.ts";
import { userEvent } from "../../domain/events.ts";
import { newId } from "../../../platform/ids.ts";
import { userFields, type UserRecord } from "../../domain/resources.ts";
import type { ResourceContext } from "../resource-context.ts";

export async function createUser(ctx: ResourceContext, directoryId: string, raw: unknown): Promise<UserRecord> {
  const dirId = checkId("directory_id", directoryId);
  const fields = userFields(raw);
  const now = new Date();
  const fresh: UserRecord = {
    id: newId(),
    directoryId: dirId,
    ...fields,
    state: fields.active ? "active" : "inactive",
    version: 1,
    createdAt: now,
    updatedAt: now,
    deletedAt: null,
  };
  // The common case is one atomic statement, the user with its event (the directory's
  // existence is the foreign key's job): no explicit transaction, one round trip. The
  // canonical user comes from the rules cached in memory; the statement checks they are
  // still the directory's current ones, and writes nothing otherwise.
  const speculation = ctx.projector?.speculate(dirId, fresh);
  if (!ctx.projector || speculation) {
    const event = userEvent(fresh, 1, "user.created", speculation?.payload);
    if (await ctx.store.read.users.insertUnlessTombstoned(fresh, [event], speculation?.mappingVersion)) return fresh;
  }
  // Rules not known or changed, or the IdP is re-provisioning someone it deleted (they keep
  // their id and history).
  return ctx.store.transact(async (repos) => {
    const tombstone = fields.externalId === null ? undefined : await repos.users.findTombstoneForUpdate(dirId, fields.externalId);
    if (!tombstone) {
      // No tombstone, or revived by a concurrent create in between: a plain create.
      await repos.users.insert(fresh);
      await repos.outbox.append(await ctx.userEvents(repos, dirId, [{ user: fresh, groups: [], type: "user.created" }]));
      return fresh;
    }
    // A tombstone has no memberships left (deleteUser removed them).
    const user: UserRecord = { ...fresh, id: tombstone.id, version: tombstone.version + 1, createdAt: tombstone.createdAt };
    await repos.users.update(user);
    await repos.outbox.append(await ctx.userEvents(repos, dirId, [{ user, groups: [], type: "user.created", extra: { relinked: true } }]));
    return user;
  });
}
