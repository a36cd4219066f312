// /Users and /Users/{id}.
import { ScimError } from "./errors.ts";
import { etag, versionFromEtag } from "./http.ts";
import { showUser } from "./representation.ts";
import { body, created, optionalBig, patched, patchRequest, projection, type ScimContext, type ScimRequest, type ScimResponse } from "./protocol.ts";
import { list, listParams } from "./listing.ts";

async function patchUser(ctx: ScimContext, id: string, req: ScimRequest): Promise<ScimResponse> {
  // Parsed before the write: a bad `attributes` must not answer 400 for a change that was applied.
  const proj = projection(req.query);
  const user = (await ctx.core.patchUser(patchRequest(ctx, id, req))).user!;
  return patched(ctx, showUser(ctx, user, proj), user.version);
}

export async function users(ctx: ScimContext, req: ScimRequest, id: string | undefined): Promise<ScimResponse> {
  const directoryId = ctx.directory.id;
  if (id === undefined) {
    if (req.method === "GET") return list(ctx, "User", listParams(req.query));
    if (req.method === "POST") {
      const { user } = await ctx.core.createUser({ directoryId, resource: body(req.body) });
      return created(`${ctx.baseUrl}/Users/${user!.id}`, user!.version, showUser(ctx, user!, projection(req.query)));
    }
    throw new ScimError(405, `${req.method} is not allowed on /Users`);
  }
  switch (req.method) {
    case "GET": {
      const { user } = await ctx.core.getUser({ directoryId, id });
      if (req.ifNoneMatch !== undefined && versionFromEtag(req.ifNoneMatch) === Number(user!.version)) return { status: 304, headers: { etag: etag(user!.version) } };
      return { status: 200, body: showUser(ctx, user!, projection(req.query)), headers: { etag: etag(user!.version) } };
    }
    case "PUT": {
      const { user } = await ctx.core.replaceUser({ directoryId, id, resource: body(req.body), expectedVersion: optionalBig(versionFromEtag(req.ifMatch)) });
      return { status: 200, body: showUser(ctx, user!, projection(req.query)), headers: { etag: etag(user!.version) } };
    }
    case "PATCH":
      return patchUser(ctx, id, req);
    case "DELETE":
      await ctx.core.deleteUser({ directoryId, id, expectedVersion: optionalBig(versionFromEtag(req.ifMatch)) });
      return { status: 204 };
    default:
      throw new ScimError(405, `${req.method} is not allowed on /Users/{id}`);
  }
}
