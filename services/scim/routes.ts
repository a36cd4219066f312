// The SCIM 2.0 protocol (RFC 7644) over the directory core. Every operation is a function
// from a parsed request to a response, so /Bulk runs the very same code as single requests.
// Reads and writes go through the core's Connect client; this layer only speaks SCIM.
import { fromJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import type { Directory, Group, Member, PatchOperation, User } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { PatchOperationSchema, ProviderKind, SortOrder } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { create } from "@bufbuild/protobuf";
import type { AttrRef } from "../platform/scim/ast.ts";
import { parseAttributeList } from "../platform/scim/filter.ts";
import type { JsonObject, JsonValue } from "../platform/scim/json.ts";
import { memberIdsOf } from "../platform/scim/members.ts";
import { readPatchOperations } from "../platform/scim/patch-request.ts";
import { isReturned, project } from "../platform/scim/projection.ts";
import type { ResourceType } from "../platform/scim/schema.ts";
import { excerpt, quote } from "../platform/text.ts";
import type { CoreClient } from "./core-client.ts";
import {
  DEFAULT_PAGE_SIZE,
  listResponse,
  MAX_BULK_OPERATIONS,
  MAX_PAGE_SIZE,
  resourceTypes,
  schemas,
  serviceProviderConfig,
} from "./discovery.ts";
import { errorBody, ScimError, toScimError } from "./errors.ts";
import { etag, versionFromEtag } from "./http.ts";
import { groupResource, userResource } from "./representation.ts";

export interface ScimRequest {
  readonly method: string;
  /** The path below the SCIM base, e.g. `/Users/123`. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly body: unknown;
  readonly ifMatch: string | undefined;
  readonly ifNoneMatch: string | undefined;
}

export interface ScimResponse {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

export interface ScimContext {
  readonly core: CoreClient;
  readonly directory: Directory;
  /** The SCIM base URL as the client sees it, for `meta.location`. */
  readonly baseUrl: string;
  readonly maxBodyBytes: number;
}

const SEARCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
const BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
// Members returned inline with a group are read in pages of this size.
const MEMBER_PAGE = 1000;

const lenient = (ctx: ScimContext) => !ctx.directory.strict;

function projection(query: URLSearchParams | { attributes?: unknown; excludedAttributes?: unknown }) {
  const read = (name: "attributes" | "excludedAttributes"): AttrRef[] | undefined => {
    const raw = query instanceof URLSearchParams ? query.get(name) : query[name];
    if (raw === null || raw === undefined || raw === "") return undefined;
    const text = Array.isArray(raw) ? raw.join(",") : String(raw);
    return parseAttributeList(text);
  };
  const attributes = read("attributes");
  const excludedAttributes = read("excludedAttributes");
  return { ...(attributes ? { attributes } : {}), ...(excludedAttributes ? { excludedAttributes } : {}) };
}

type Projection = ReturnType<typeof projection>;

function body(value: unknown): JsonObject {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new ScimError(400, "request body must be a JSON object", "invalidSyntax");
  return value as JsonObject;
}

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

async function showGroup(ctx: ScimContext, group: Group, proj: Projection): Promise<JsonObject> {
  // A large group's member list is read only when the response will carry it.
  const members = isReturned("Group", membersRef, proj) ? await allMembers(ctx, group.id) : undefined;
  return project("Group", groupResource(group, members, ctx.baseUrl), proj);
}

function showUser(ctx: ScimContext, user: User, proj: Projection): JsonObject {
  return project("User", userResource(user, ctx.baseUrl), proj);
}

function created(location: string, version: bigint, resource: JsonObject): ScimResponse {
  return { status: 201, body: resource, headers: { location, etag: etag(version) } };
}

// ---- listing

interface ListParams {
  filter: string;
  startIndex: number;
  count: number;
  sortBy: string;
  descending: boolean;
  cursor: string | undefined;
  proj: Projection;
}

// A cursor is the core's page token, except this one: the start, for a page of none asked
// for with the first cursor (it must be handed a position that skips nobody). No page token
// looks like it.
const FIRST_CURSOR = "start";

// The core pages by a 32-bit start index; beyond it no page exists to ask for.
const MAX_START_INDEX = 2_147_483_647;

function intParam(raw: unknown, name: string): number | undefined {
  if (raw === undefined || raw === null || raw === "") return undefined;
  const n = typeof raw === "number" ? raw : Number(raw);
  if (!Number.isInteger(n)) throw new ScimError(400, `${name} must be an integer`, "invalidValue");
  return n;
}

function startIndexParam(raw: unknown): number {
  const n = intParam(raw, "startIndex") ?? 1;
  if (n > MAX_START_INDEX) throw new ScimError(400, `startIndex must be at most ${MAX_START_INDEX}`, "invalidValue");
  return n;
}

function listParams(source: URLSearchParams | JsonObject): ListParams {
  const get = (name: string): unknown => (source instanceof URLSearchParams ? (source.get(name) ?? undefined) : source[name]);
  const sortOrder = String(get("sortOrder") ?? "ascending").toLowerCase();
  if (sortOrder !== "ascending" && sortOrder !== "descending") throw new ScimError(400, "sortOrder must be ascending or descending", "invalidValue");
  const cursor = get("cursor");
  const filter = get("filter");
  const sortBy = get("sortBy");
  if (filter !== undefined && typeof filter !== "string") throw new ScimError(400, "filter must be a string", "invalidFilter");
  if (sortBy !== undefined && typeof sortBy !== "string") throw new ScimError(400, "sortBy must be a string", "invalidValue");
  return {
    filter: filter ?? "",
    // RFC 7644 3.4.2.4: below 1 is read as 1; counts are clamped, negative means 0.
    startIndex: Math.max(1, startIndexParam(get("startIndex"))),
    count: Math.min(MAX_PAGE_SIZE, Math.max(0, intParam(get("count"), "count") ?? DEFAULT_PAGE_SIZE)),
    sortBy: sortBy ?? "",
    descending: sortOrder === "descending",
    cursor: cursor === undefined ? undefined : String(cursor),
    proj: projection(source instanceof URLSearchParams ? source : { attributes: source.attributes, excludedAttributes: source.excludedAttributes }),
  };
}

async function list(ctx: ScimContext, type: ResourceType, p: ListParams): Promise<ScimResponse> {
  const options = {
    filter: p.filter,
    // count=0 asks only for totalResults.
    pageSize: Math.max(1, p.count),
    pageToken: p.cursor === FIRST_CURSOR ? "" : (p.cursor ?? ""),
    startIndex: p.cursor === undefined ? p.startIndex : 0,
    sortBy: p.sortBy,
    sortOrder: p.descending ? SortOrder.DESCENDING : SortOrder.ASCENDING,
  };
  let resources: JsonObject[];
  let total: number;
  let next: string;
  if (type === "User") {
    const page = await ctx.core.listUsers({ directoryId: ctx.directory.id, options });
    resources = page.users.map((u) => showUser(ctx, u, p.proj));
    total = page.totalSize;
    next = page.nextPageToken;
  } else {
    const page = await ctx.core.listGroups({ directoryId: ctx.directory.id, options });
    resources = [];
    for (const g of page.groups) resources.push(await showGroup(ctx, g, p.proj));
    total = page.totalSize;
    next = page.nextPageToken;
  }
  if (p.count === 0) {
    // A page of none leaves the position where it was: the page read (of one, since the
    // core has no empty pages) must not move the cursor past anyone.
    resources = [];
    if (p.cursor !== undefined && total > 0) next = p.cursor === "" ? FIRST_CURSOR : p.cursor;
  }
  const extra: JsonObject = p.cursor !== undefined && next !== "" ? { nextCursor: next } : {};
  return { status: 200, body: listResponse(resources, total, p.cursor === undefined ? p.startIndex : 1, extra) };
}

// ---- users

/**
 * The PatchOp body as typed operations for the core, which applies them under the resource's
 * row lock (so concurrent PATCHes queue instead of failing) and refuses a stale If-Match.
 */
function patchRequest(ctx: ScimContext, id: string, req: ScimRequest): { directoryId: string; id: string; operations: PatchOperation[]; expectedVersion: bigint | undefined } {
  const operations = readPatchOperations(req.body, lenient(ctx)).map((o) =>
    create(PatchOperationSchema, { op: o.op, path: o.path, value: o.value === undefined ? undefined : fromJson(ValueSchema, o.value as JsonValue) }),
  );
  return { directoryId: ctx.directory.id, id, operations, expectedVersion: optionalBig(versionFromEtag(req.ifMatch)) };
}

async function patchUser(ctx: ScimContext, id: string, req: ScimRequest): Promise<ScimResponse> {
  // Parsed before the write: a bad `attributes` must not answer 400 for a change that was applied.
  const proj = projection(req.query);
  const user = (await ctx.core.patchUser(patchRequest(ctx, id, req))).user!;
  return patched(ctx, showUser(ctx, user, proj), user.version);
}

/** Entra expects 204 from PATCH; other clients get the resource (RFC 7644 3.5.2). */
function patched(ctx: ScimContext, resource: JsonObject, version: bigint): ScimResponse {
  if (ctx.directory.provider === ProviderKind.ENTRA) return { status: 204, headers: { etag: etag(version) } };
  return { status: 200, body: resource, headers: { etag: etag(version) } };
}

async function users(ctx: ScimContext, req: ScimRequest, id: string | undefined): Promise<ScimResponse> {
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

const optionalBig = (n: number | undefined) => (n === undefined ? undefined : BigInt(n));

// ---- groups

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

async function groups(ctx: ScimContext, req: ScimRequest, id: string | undefined): Promise<ScimResponse> {
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

// ---- search and bulk

async function search(ctx: ScimContext, req: ScimRequest, type: ResourceType | undefined): Promise<ScimResponse> {
  const request = body(req.body);
  const declared = request.schemas;
  if (!Array.isArray(declared) || !declared.includes(SEARCH_SCHEMA)) throw new ScimError(400, `a search request must declare ${SEARCH_SCHEMA}`, "invalidSyntax");
  const p = listParams(request);
  if (type !== undefined) return list(ctx, type, p);
  // The root search spans users then groups, paged as one sequence.
  const usersPage = await list(ctx, "User", { ...p, cursor: undefined });
  const userBody = usersPage.body as { totalResults: number; Resources: JsonObject[] };
  const groupsStart = Math.max(1, p.startIndex - userBody.totalResults);
  const room = p.count - userBody.Resources.length;
  const groupsPage = await list(ctx, "Group", { ...p, cursor: undefined, startIndex: groupsStart, count: room > 0 ? room : 0 });
  const groupBody = groupsPage.body as { totalResults: number; Resources: JsonObject[] };
  const resources = [...userBody.Resources, ...(room > 0 ? groupBody.Resources : [])];
  return { status: 200, body: listResponse(resources, userBody.totalResults + groupBody.totalResults, p.startIndex) };
}

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

async function bulk(ctx: ScimContext, req: ScimRequest): Promise<ScimResponse> {
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

// ---- routing

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
      return bulk(ctx, req);
    default:
      throw new ScimError(404, `no such endpoint: ${excerpt(req.path)}`);
  }
}
