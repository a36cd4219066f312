// Reading groups: one, a filtered and sorted page, a page of its members.
import { checkId, isId } from "../../domain/directory.ts";
import { checkPageSize, encodePageToken } from "../../domain/paging.ts";
import { checkNotDeleted, type GroupRecord } from "../../domain/resources.ts";
import type { MemberRow } from "../store.ts";
import type { ResourceContext } from "../resource-context.ts";
import { listQuery, tokenString, type ListOptions, type Listed } from "../list-query.ts";

export async function getGroup(ctx: ResourceContext, directoryId: string, id: string): Promise<GroupRecord> {
  const dirId = checkId("directory_id", directoryId);
  return checkNotDeleted(isId(id) ? await ctx.store.read.groups.get(dirId, id.toLowerCase()) : undefined, "group", id);
}

export async function listGroups(ctx: ResourceContext, directoryId: string, options: ListOptions): Promise<Listed<GroupRecord>> {
  const dirId = checkId("directory_id", directoryId);
  const directory = await ctx.directory(ctx.store.read, dirId);
  const { query, next } = listQuery(options, !directory.strict, false);
  const result = await ctx.store.read.groups.list(dirId, { ...query, limit: query.limit + 1 });
  const page = result.items.slice(0, query.limit);
  return { items: page, total: result.total, nextPageToken: next(page, result.items.length > page.length), startIndex: query.offset + 1 };
}

export async function listMembers(ctx: ResourceContext, directoryId: string, groupId: string, pageSize: number, pageToken: string): Promise<{ members: MemberRow[]; nextPageToken: string; total: number }> {
  const group = await getGroup(ctx, directoryId, groupId);
  const size = checkPageSize(pageSize, 100, 1000);
  const after = pageToken === "" ? undefined : tokenString(pageToken, "after");
  const rows = await ctx.store.read.memberships.members(group.id, after === undefined ? undefined : checkId("page_token", after), size + 1);
  const members = rows.slice(0, size);
  const last = members.at(-1);
  return { members, nextPageToken: rows.length > size && last ? encodePageToken({ after: last.userId }) : "", total: group.memberCount };
}
