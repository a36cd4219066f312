// The SCIM representation of the core's users and groups (RFC 7643 sections 3.1, 4.1, 4.2).
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { Group, Member, User } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import type { AttrRef } from "../platform/scim/ast.ts";
import { isReturned, project } from "../platform/scim/projection.ts";
import type { Projection, ScimContext } from "./protocol.ts";
import type { JsonObject } from "../platform/scim/json.ts";
import { ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA } from "../platform/scim/schema.ts";
import { etag } from "./http.ts";

function iso(t: Timestamp | undefined): string | undefined {
  return t ? timestampDate(t).toISOString() : undefined;
}

function meta(resourceType: "User" | "Group", baseUrl: string, id: string, created: Timestamp | undefined, updated: Timestamp | undefined, version: bigint): JsonObject {
  return {
    resourceType,
    created: iso(created) ?? null,
    lastModified: iso(updated) ?? null,
    location: `${baseUrl}/${resourceType}s/${id}`,
    version: etag(version),
  };
}

export function userResource(user: User, baseUrl: string): JsonObject {
  const stored = (user.resource ?? {}) as JsonObject;
  const schemas = [USER_SCHEMA, ...(stored[ENTERPRISE_USER_SCHEMA] !== undefined ? [ENTERPRISE_USER_SCHEMA] : [])];
  const { schemas: _ignored, ...attributes } = stored;
  return {
    schemas,
    id: user.id,
    ...attributes,
    ...(user.groups.length > 0
      ? { groups: user.groups.map((g) => ({ value: g.id, display: g.displayName, $ref: `${baseUrl}/Groups/${g.id}`, type: "direct" })) }
      : {}),
    meta: meta("User", baseUrl, user.id, user.createTime, user.updateTime, user.version),
  };
}

export function groupResource(group: Group, members: readonly Member[] | undefined, baseUrl: string): JsonObject {
  const stored = (group.resource ?? {}) as JsonObject;
  const { schemas: _ignored, ...attributes } = stored;
  return {
    schemas: [GROUP_SCHEMA],
    id: group.id,
    ...attributes,
    ...(members === undefined
      ? {}
      : { members: members.map((m) => ({ value: m.userId, display: m.displayName, $ref: `${baseUrl}/Users/${m.userId}`, type: "User" })) }),
    meta: meta("Group", baseUrl, group.id, group.createTime, group.updateTime, group.version),
  };
}

// Members returned inline with a group are read in pages of this size.
const MEMBER_PAGE = 1000;

async function allMembers(ctx: ScimContext, groupId: string): Promise<Member[]> {
  const members: Member[] = [];
  let pageToken = "";
  do {
    const page = await ctx.core.listGroupMembers({ directoryId: ctx.directory.id, groupId, pageSize: MEMBER_PAGE, pageToken });
    members.push(...page.members);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return members;
}

const membersRef: AttrRef = { name: "members" };

export async function showGroup(ctx: ScimContext, group: Group, proj: Projection): Promise<JsonObject> {
  // A large group's member list is read only when the response will carry it.
  const members = isReturned("Group", membersRef, proj) ? await allMembers(ctx, group.id) : undefined;
  return project("Group", groupResource(group, members, ctx.baseUrl), proj);
}

export function showUser(ctx: ScimContext, user: User, proj: Projection): JsonObject {
  return project("User", userResource(user, ctx.baseUrl), proj);
}
