// The SCIM 2.0 protocol (RFC 7644) over the directory core: which endpoint a request is for.
// Every operation is a function from a parsed request to a response (./users.ts, ./groups.ts,
// ./listing.ts, ./bulk.ts), so /Bulk runs the very same code as single requests. Reads and
// writes go through the core's Connect client; the facade only speaks SCIM.
import { excerpt, quote } from "../platform/text.ts";
import { listResponse, resourceTypes, schemas, serviceProviderConfig } from "./discovery.ts";
import { ScimError } from "./errors.ts";
import type { ScimContext, ScimRequest, ScimResponse } from "./protocol.ts";
import { search } from "./listing.ts";
import { users } from "./users.ts";
import { groups } from "./groups.ts";
import { bulk } from "./bulk.ts";

export const ENDPOINTS = ["ServiceProviderConfig", "serviceConfiguration", "ResourceTypes", "Schemas", "Users", "Groups", ".search", "Bulk"];

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ScimError(400, `the path segment ${quote(segment)} is not valid percent-encoding`);
  }
}

export async function route(ctx: ScimContext, req: ScimRequest): Promise<ScimResponse> {
  const parts = req.path.split("/").filter((p) => p !== "").map(decodePathSegment);
  const [written, second, ...rest] = parts;
  // Endpoint names are matched case-insensitively: some clients send `/users`.
  const first = ENDPOINTS.find((e) => e.toLowerCase() === written?.toLowerCase()) ?? written;
  if (rest.length > 0) throw new ScimError(404, `no such endpoint: ${excerpt(req.path)}`);
  const get = (make: () => unknown): ScimResponse => {
    if (req.method !== "GET") throw new ScimError(405, `${req.method} is not allowed on /${first}`);
    return { status: 200, body: make() };
  };
  switch (first) {
    case "ServiceProviderConfig":
    case "serviceConfiguration":
      return get(() => serviceProviderConfig(ctx.baseUrl, ctx.maxBodyBytes));
    case "ResourceTypes": {
      const all = resourceTypes(ctx.baseUrl);
      if (second === undefined) return get(() => listResponse(all, all.length, 1));
      const one = all.find((r) => r.id === second);
      if (!one) throw new ScimError(404, `no resource type ${quote(second)}`);
      return get(() => one);
    }
    case "Schemas": {
      const all = schemas(ctx.baseUrl);
      if (second === undefined) return get(() => listResponse(all, all.length, 1));
      const one = all.find((s) => String(s.id).toLowerCase() === second.toLowerCase());
      if (!one) throw new ScimError(404, `no schema ${quote(second)}`);
      return get(() => one);
    }
    case "Users":
      if (second === ".search") return req.method === "POST" ? search(ctx, req, "User") : Promise.reject(new ScimError(405, "use POST for .search"));
      return users(ctx, req, second);
    case "Groups":
      if (second === ".search") return req.method === "POST" ? search(ctx, req, "Group") : Promise.reject(new ScimError(405, "use POST for .search"));
      return groups(ctx, req, second);
    case ".search":
      if (second !== undefined || req.method !== "POST") throw new ScimError(405, "use POST /.search");
      return search(ctx, req, undefined);
    case "Bulk":
      if (second !== undefined) throw new ScimError(404, `no such endpoint: ${excerpt(req.path)}`);
      return bulk(ctx, req, route);
    default:
      throw new ScimError(404, `no such endpoint: ${excerpt(req.path)}`);
  }
}
