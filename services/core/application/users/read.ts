// Reading users: one with its groups, a filtered and sorted page, a user's groups.
import { checkId, isId } from "../../domain/directory.ts";
import { checkNotDeleted, type GroupRecord, type UserRecord } from "../../domain/resources.ts";
import type { ResourceContext } from "../resource-context.ts";
import { listQuery, type ListOptions, type Listed } from "../list-query.ts";

export interface UserWithGroups {
  readonly user: UserRecord;
  readonly groups: GroupRecord[];
}

export async function getUser(ctx: ResourceContext, directoryId: string, id: string): Promise<UserWithGroups> {
  const dirId = checkId("directory_id", directoryId);
  const user = checkNotDeleted(isId(id) ? await ctx.store.read.users.get(dirId, id.toLowerCase()) : undefined, "user", id);
  const groups = await ctx.store.read.memberships.groupRefsOf([user.id]);
  return { user, groups: groups.get(user.id) ?? [] };
}

export async function listUsers(ctx: ResourceContext, directoryId: string, options: ListOptions, includeDeleted = false): Promise<Listed<UserWithGroups>> {
  const dirId = checkId("directory_id", directoryId);
  const directory = await ctx.directory(ctx.store.read, dirId);
  const { query, next } = listQuery(options, !directory.strict, includeDeleted);
  // One row beyond the page says whether a next page exists (no token on the last page).
  const result = await ctx.store.read.users.list(dirId, { ...query, limit: query.limit + 1 });
  const page = result.items.slice(0, query.limit);
  const groups = await ctx.store.read.memberships.groupRefsOf(page.map((u) => u.id));
  const items = page.map((user) => ({ user, groups: groups.get(user.id) ?? [] }));
  return { items, total: result.total, nextPageToken: next(page, result.items.length > page.length), startIndex: query.offset + 1 };
}

export async function listUserGroups(ctx: ResourceContext, directoryId: string, userId: string): Promise<GroupRecord[]> {
  return (await getUser(ctx, directoryId, userId)).groups;
}
