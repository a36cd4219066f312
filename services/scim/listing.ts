// Listing and searching (RFC 7644 3.4.2, 3.4.3): filter, sort, index and cursor paging
// (RFC 9865), as GET on a resource type or POST .search.
import { SortOrder } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import type { JsonObject } from "../platform/scim/json.ts";
import type { ResourceType } from "../platform/scim/schema.ts";
import { DEFAULT_PAGE_SIZE, listResponse, MAX_PAGE_SIZE } from "./discovery.ts";
import { ScimError } from "./errors.ts";
import { showGroup, showUser } from "./representation.ts";
import { body, intParam, projection, type Projection, type ScimContext, type ScimRequest, type ScimResponse } from "./protocol.ts";

const SEARCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

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

function startIndexParam(raw: unknown): number {
  const n = intParam(raw, "startIndex") ?? 1;
  if (n > MAX_START_INDEX) throw new ScimError(400, `startIndex must be at most ${MAX_START_INDEX}`, "invalidValue");
  return n;
}

export function listParams(source: URLSearchParams | JsonObject): ListParams {
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

export async function list(ctx: ScimContext, type: ResourceType, p: ListParams): Promise<ScimResponse> {
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

export async function search(ctx: ScimContext, req: ScimRequest, type: ResourceType | undefined): Promise<ScimResponse> {
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
