// `for await` over every list RPC: each iterator asks for the next page only when the
// previous one is consumed, and stops when the server hands back no page token.
//
//   for await (const user of listUsers(roster.directory, { directoryId })) console.log(user.userName);
//
// Breaking out of the loop stops fetching. The request is passed through as given (filter,
// sort, page size); the page token is the iterator's.
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { CallOptions, Client } from "@connectrpc/connect";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import {
  ListDirectoriesRequestSchema,
  ListGroupMembersRequestSchema,
  ListGroupsRequestSchema,
  ListScimAuditRecordsRequestSchema,
  ListUserGroupsRequestSchema,
  ListUsersRequestSchema,
  type Directory,
  type DirectoryService,
  type Group,
  type Member,
  type ScimAuditRecord,
  type User,
} from "./gen/roster/directory/v1/directory_pb.js";
import { ListEventsRequestSchema, type Event, type EventService } from "./gen/roster/events/v1/events_pb.js";
import { toTimestamp } from "./time.ts";



/** Fetches pages until the token runs out; yields their items one by one. */
export async function* paginate<Item>(fetchPage: (pageToken: string) => Promise<{ items: Item[]; next: string }>): AsyncGenerator<Item, void, undefined> {
  let token = "";
  const seen = new Set<string>();
  for (;;) {
    const { items, next } = await fetchPage(token);
    yield* items;
    if (next === "") return;
    // A server that hands back a token it already gave would loop forever.
    if (seen.has(next)) throw new Error("the server repeated a page token");
    seen.add(next);
    token = next;
  }
}

type DirectoryClient = Client<typeof DirectoryService>;

export function listUsers(client: DirectoryClient, request: Omit<MessageInitShape<typeof ListUsersRequestSchema>, "$typeName">, options?: CallOptions): AsyncGenerator<User, void, undefined> {
  return paginate(async (pageToken) => {
    const r = await client.listUsers({ ...request, options: { ...request.options, pageToken, startIndex: 0 } }, options);
    return { items: r.users, next: r.nextPageToken };
  });
}

export function listGroups(client: DirectoryClient, request: Omit<MessageInitShape<typeof ListGroupsRequestSchema>, "$typeName">, options?: CallOptions): AsyncGenerator<Group, void, undefined> {
  return paginate(async (pageToken) => {
    const r = await client.listGroups({ ...request, options: { ...request.options, pageToken, startIndex: 0 } }, options);
    return { items: r.groups, next: r.nextPageToken };
  });
}

export function listGroupMembers(client: DirectoryClient, request: Omit<MessageInitShape<typeof ListGroupMembersRequestSchema>, "$typeName" | "pageToken">, options?: CallOptions): AsyncGenerator<Member, void, undefined> {
  return paginate(async (pageToken) => {
    const r = await client.listGroupMembers({ ...request, pageToken }, options);
    return { items: r.members, next: r.nextPageToken };
  });
}

export function listUserGroups(client: DirectoryClient, request: Omit<MessageInitShape<typeof ListUserGroupsRequestSchema>, "$typeName" | "pageToken">, options?: CallOptions): AsyncGenerator<Group, void, undefined> {
  return paginate(async (pageToken) => {
    const r = await client.listUserGroups({ ...request, pageToken }, options);
    return { items: r.groups, next: r.nextPageToken };
  });
}

export function listDirectories(client: DirectoryClient, request: Omit<MessageInitShape<typeof ListDirectoriesRequestSchema>, "$typeName" | "pageToken"> = {}, options?: CallOptions): AsyncGenerator<Directory, void, undefined> {
  return paginate(async (pageToken) => {
    const r = await client.listDirectories({ ...request, pageToken }, options);
    return { items: r.directories, next: r.nextPageToken };
  });
}

/** Newest first. `startTime` takes a Date or a Timestamp. */
export function listScimAuditRecords(
  client: DirectoryClient,
  request: Omit<MessageInitShape<typeof ListScimAuditRecordsRequestSchema>, "$typeName" | "pageToken" | "startTime"> & { startTime?: Date | Timestamp },
  options?: CallOptions,
): AsyncGenerator<ScimAuditRecord, void, undefined> {
  const startTime = toTimestamp(request.startTime);
  return paginate(async (pageToken) => {
    const r = await client.listScimAuditRecords({ ...request, startTime, pageToken }, options);
    return { items: r.records, next: r.nextPageToken };
  });
}

/**
 * The events published so far, oldest first, then stops (use `subscribe` to follow live).
 * `startTime` takes a Date or a Timestamp; `cursor` resumes after a cursor.
 */
export async function* listEvents(
  client: Client<typeof EventService>,
  request: Omit<MessageInitShape<typeof ListEventsRequestSchema>, "$typeName" | "startTime"> & { startTime?: Date | Timestamp },
  options?: CallOptions,
): AsyncGenerator<Event, void, undefined> {
  let cursor = request.cursor ?? "";
  const startTime = toTimestamp(request.startTime);
  for (;;) {
    const r = await client.listEvents({ ...request, cursor, startTime: cursor === "" ? startTime : undefined }, options);
    yield* r.events;
    // The cursor is present even on an empty page: an empty page means "nothing newer".
    if (r.events.length === 0 || r.nextCursor === cursor) return;
    cursor = r.nextCursor;
  }
}
