// /Groups and /Groups/{id}. A group's members come and go as changes, never as the whole list.
import { ProviderKind } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import type { JsonObject } from "../platform/scim/json.ts";
import { memberIdsOf } from "../platform/scim/members.ts";
import { ScimError } from "./errors.ts";
import { etag, versionFromEtag } from "./http.ts";
import { showGroup } from "./representation.ts";
import { body, created, optionalBig, patched, patchRequest, projection, type ScimContext, type ScimRequest, type ScimResponse } from "./protocol.ts";
import { list, listParams } from "./listing.ts";

async function patchGroup(ctx: ScimContext, id: string, req: ScimRequest): Promise<ScimResponse> {
  const proj = projection(req.query);
  const group = (await ctx.core.patchGroup(patchRequest(ctx, id, req))).group!;
  // RFC 7644 3.5.2 allows 204 instead of the whole resource. A group's whole resource is its
  // member list, which can be 100,000 entries: a one-member PATCH must not read it back. So
  // a group PATCH answers 204 (what Okta and Entra expect) unless the client asks for a
  // representation with `attributes` or `excludedAttributes`.
  if (ctx.directory.provider === ProviderKind.ENTRA || Object.keys(proj).length === 0) return { status: 204, headers: { etag: etag(group.version) } };
  return patched(ctx, await showGroup(ctx, group, proj), group.version);
}

export async function groups(ctx: ScimContext, req: ScimRequest, id: string | undefined): Promise<ScimResponse> {
  const directoryId = ctx.directory.id;
  if (id === undefined) {
    if (req.method === "GET") return list(ctx, "Group", listParams(req.query));
    if (req.method === "POST") {
      const resource = body(req.body);
      const { group } = await ctx.core.createGroup({ directoryId, resource: withoutMembers(resource), memberUserIds: memberIds(resource) });
      return created(`${ctx.baseUrl}/Groups/${group!.id}`, group!.version, await showGroup(ctx, group!, projection(req.query)));
    }
    throw new ScimError(405, `${req.method} is not allowed on /Groups`);
  }
  switch (req.method) {
    case "GET": {
      const { group } = await ctx.core.getGroup({ directoryId, id });
      if (req.ifNoneMatch !== undefined && versionFromEtag(req.ifNoneMatch) === Number(group!.version)) return { status: 304, headers: { etag: etag(group!.version) } };
      return { status: 200, body: await showGroup(ctx, group!, projection(req.query)), headers: { etag: etag(group!.version) } };
    }
    case "PUT": {
      const resource = body(req.body);
      const { group } = await ctx.core.updateGroup({
        directoryId,
        id,
        resource: withoutMembers(resource),
        replaceMembers: true,
        replaceMemberUserIds: memberIds(resource),
        expectedVersion: optionalBig(versionFromEtag(req.ifMatch)),
      });
      return { status: 200, body: await showGroup(ctx, group!, projection(req.query)), headers: { etag: etag(group!.version) } };
    }
    case "PATCH":
      return patchGroup(ctx, id, req);
    case "DELETE":
      await ctx.core.deleteGroup({ directoryId, id, expectedVersion: optionalBig(versionFromEtag(req.ifMatch)) });
      return { status: 204 };
    default:
      throw new ScimError(405, `${req.method} is not allowed on /Groups/{id}`);
  }
}

function memberIds(resource: JsonObject): string[] {
  const key = Object.keys(resource).find((k) => k.toLowerCase() === "members");
  return memberIdsOf(key === undefined ? undefined : resource[key]);
}

function withoutMembers(resource: JsonObject): JsonObject {
  return Object.fromEntries(Object.entries(resource).filter(([k]) => k.toLowerCase() !== "members")) as JsonObject;
}
