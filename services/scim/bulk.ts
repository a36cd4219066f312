// /Bulk (RFC 7644 3.7): operations in order, bulkId references resolved, failOnErrors honoured.
import type { JsonObject } from "../platform/scim/json.ts";
import { quote } from "../platform/text.ts";
import { MAX_BULK_OPERATIONS } from "./discovery.ts";
import { errorBody, ScimError, toScimError } from "./errors.ts";
import { body, intParam, type ScimContext, type ScimRequest, type ScimResponse } from "./protocol.ts";

const BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/** Replaces every `bulkId:<id>` string with the id the operation that declared it created. */
function resolveBulkIds(value: unknown, ids: ReadonlyMap<string, string>): unknown {
  if (typeof value === "string" && value.startsWith("bulkId:")) {
    const id = ids.get(value.slice("bulkId:".length));
    if (id === undefined) throw new ScimError(409, `${quote(value)} does not name an earlier operation that succeeded`, "invalidValue");
    return id;
  }
  if (Array.isArray(value)) return value.map((v) => resolveBulkIds(v, ids));
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveBulkIds(v, ids)]));
  return value;
}

/** Each operation runs through `route`, the very code of a single request. */
export async function bulk(ctx: ScimContext, req: ScimRequest, route: (ctx: ScimContext, req: ScimRequest) => Promise<ScimResponse>): Promise<ScimResponse> {
  if (req.method !== "POST") throw new ScimError(405, "only POST is allowed on /Bulk");
  const request = body(req.body);
  if (!Array.isArray(request.schemas) || !request.schemas.includes(BULK_REQUEST)) throw new ScimError(400, `a bulk request must declare ${BULK_REQUEST}`, "invalidSyntax");
  const operations = request.Operations;
  if (!Array.isArray(operations)) throw new ScimError(400, "Operations must be an array", "invalidSyntax");
  if (operations.length > MAX_BULK_OPERATIONS) throw new ScimError(413, `at most ${MAX_BULK_OPERATIONS} operations per bulk request`, "tooMany");
  const failOnErrors = intParam(request.failOnErrors, "failOnErrors");
  const created = new Map<string, string>();
  const results: JsonObject[] = [];
  let errors = 0;
  for (const raw of operations) {
    if (failOnErrors !== undefined && failOnErrors > 0 && errors >= failOnErrors) break;
    const op = (raw ?? {}) as JsonObject;
    const method = String(op.method ?? "").toUpperCase();
    const bulkId = typeof op.bulkId === "string" ? op.bulkId : undefined;
    let response: ScimResponse;
    try {
      if (!["POST", "PUT", "PATCH", "DELETE"].includes(method)) throw new ScimError(400, "method must be POST, PUT, PATCH or DELETE", "invalidValue");
      if (typeof op.path !== "string" || !/^\/(Users|Groups)(\/[^/?]+)?$/.test(op.path)) throw new ScimError(400, "path must be /Users, /Groups or one of their resources", "invalidPath");
      if (method === "POST" && bulkId === undefined) throw new ScimError(400, "a POST in a bulk request needs a bulkId", "invalidValue");
      const path = resolveBulkIds(op.path, created) as string;
      const data = op.data === undefined ? undefined : resolveBulkIds(op.data, created);
      const version = typeof op.version === "string" ? op.version : undefined;
      response = await route(ctx, { method, path, query: new URLSearchParams(), body: data, ifMatch: version, ifNoneMatch: undefined });
    } catch (error) {
      const scim = toScimError(error);
      if (!scim) throw error;
      response = { status: scim.status, body: errorBody(scim) };
    }
    if (response.status >= 400) errors++;
    const location = response.headers?.location;
    if (method === "POST" && bulkId !== undefined && location) created.set(bulkId, location.slice(location.lastIndexOf("/") + 1));
    results.push({
      method,
      ...(bulkId === undefined ? {} : { bulkId }),
      ...(location ? { location } : typeof op.path === "string" && method !== "POST" ? { location: `${ctx.baseUrl}${op.path}` } : {}),
      ...(response.headers?.etag ? { version: response.headers.etag } : {}),
      status: String(response.status),
      ...(response.status >= 400 ? { response: response.body as JsonObject } : {}),
    });
  }
  return { status: 200, body: { schemas: [BULK_RESPONSE], Operations: results } };
}
