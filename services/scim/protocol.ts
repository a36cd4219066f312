// What every SCIM operation shares: the parsed request and the response, the context of the
// authenticated directory, and the small readers and answers each endpoint uses.
import { create, fromJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { PatchOperationSchema, ProviderKind, type Directory, type PatchOperation } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import type { AttrRef } from "../platform/scim/ast.ts";
import { parseAttributeList } from "../platform/scim/filter.ts";
import type { JsonObject, JsonValue } from "../platform/scim/json.ts";
import { readPatchOperations } from "../platform/scim/patch-request.ts";
import type { CoreClient } from "./core-client.ts";
import { ScimError } from "./errors.ts";
import { etag, versionFromEtag } from "./http.ts";

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

export const lenient = (ctx: ScimContext) => !ctx.directory.strict;

export function projection(query: URLSearchParams | { attributes?: unknown; excludedAttributes?: unknown }) {
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

export type Projection = ReturnType<typeof projection>;

export function body(value: unknown): JsonObject {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new ScimError(400, "request body must be a JSON object", "invalidSyntax");
  return value as JsonObject;
}

export function created(location: string, version: bigint, resource: JsonObject): ScimResponse {
  return { status: 201, body: resource, headers: { location, etag: etag(version) } };
}

/** Entra expects 204 from PATCH; other clients get the resource (RFC 7644 3.5.2). */
export function patched(ctx: ScimContext, resource: JsonObject, version: bigint): ScimResponse {
  if (ctx.directory.provider === ProviderKind.ENTRA) return { status: 204, headers: { etag: etag(version) } };
  return { status: 200, body: resource, headers: { etag: etag(version) } };
}

export const optionalBig = (n: number | undefined) => (n === undefined ? undefined : BigInt(n));

export function intParam(raw: unknown, name: string): number | undefined {
  if (raw === undefined || raw === null || raw === "") return undefined;
  const n = typeof raw === "number" ? raw : Number(raw);
  if (!Number.isInteger(n)) throw new ScimError(400, `${name} must be an integer`, "invalidValue");
  return n;
}


/**
 * The PatchOp body as typed operations for the core, which applies them under the resource's
 * row lock (so concurrent PATCHes queue instead of failing) and refuses a stale If-Match.
 */
export function patchRequest(ctx: ScimContext, id: string, req: ScimRequest): { directoryId: string; id: string; operations: PatchOperation[]; expectedVersion: bigint | undefined } {
  const operations = readPatchOperations(req.body, lenient(ctx)).map((o) =>
    create(PatchOperationSchema, { op: o.op, path: o.path, value: o.value === undefined ? undefined : fromJson(ValueSchema, o.value as JsonValue) }),
  );
  return { directoryId: ctx.directory.id, id, operations, expectedVersion: optionalBig(versionFromEtag(req.ifMatch)) };
}
