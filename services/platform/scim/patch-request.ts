// The PatchOp request envelope (RFC 7644 section 3.5.2): the operations a PATCH body holds,
// checked for shape and count. The facade reads them to send them typed; the core's PATCH
// engine reads the same way what it is sent.
import { ScimRequestError, type ScimRequestErrorType } from "./errors.ts";
import type { JsonObject, JsonValue } from "./json.ts";

export const PATCH_OP_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/** Most operations accepted in one request; more is `tooMany`. */
export const MAX_PATCH_OPERATIONS = 1000;

export type OpName = "add" | "replace" | "remove";

export interface PatchOperation {
  readonly op: OpName;
  readonly path: string | undefined;
  readonly value: unknown;
}

function refuse(kind: ScimRequestErrorType, detail: string): never {
  throw new ScimRequestError(kind, detail);
}

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

// RFC 7643 section 2.1: attribute names, those of the PatchOp message included, are
// case-insensitive ("Operations", "Op", "Value"...).
function field(obj: JsonObject, name: string): JsonValue | undefined {
  const lower = name.toLowerCase();
  const key = Object.keys(obj).find((k) => k.toLowerCase() === lower);
  return key === undefined ? undefined : obj[key];
}

/** The operations of a PatchOp body; throws ScimRequestError for anything else. */
export function readPatchOperations(body: unknown, lenient: boolean): PatchOperation[] {
  if (!isObject(body)) refuse("invalidSyntax", "the body must be a PatchOp JSON object");
  const schemas = field(body, "schemas");
  const isPatchOp = (s: unknown) => typeof s === "string" && s.toLowerCase() === PATCH_OP_SCHEMA.toLowerCase();
  if (!Array.isArray(schemas) || !schemas.some(isPatchOp)) refuse("invalidSyntax", `"schemas" must contain "${PATCH_OP_SCHEMA}"`);
  const operations = field(body, "Operations");
  if (!Array.isArray(operations)) refuse("invalidSyntax", `"Operations" must be an array`);
  if (operations.length > MAX_PATCH_OPERATIONS) {
    refuse("tooMany", `${operations.length} operations, at most ${MAX_PATCH_OPERATIONS} are accepted in one request`);
  }
  // RFC 7644 asks for "one or more" operations; an empty list changes nothing, so lenient accepts it.
  if (operations.length === 0 && !lenient) refuse("invalidSyntax", `"Operations" must hold at least one operation`);
  return operations.map((raw, i) => readOperation(raw, i, lenient));
}

function readOperation(raw: unknown, i: number, lenient: boolean): PatchOperation {
  const where = `Operations[${i}]`;
  if (!isObject(raw)) refuse("invalidSyntax", `${where} must be an object`);
  const opText = field(raw, "op");
  // Entra sends "Replace" and "Add".
  const op = typeof opText === "string" ? opText.toLowerCase() : undefined;
  if (op !== "add" && op !== "replace" && op !== "remove") {
    refuse("invalidSyntax", `${where}: "op" must be "add", "replace" or "remove", not ${JSON.stringify(opText)}`);
  }
  const pathValue = field(raw, "path");
  let path: string | undefined;
  if (typeof pathValue === "string") {
    path = pathValue.trim();
    if (path === "") {
      if (!lenient) refuse("invalidPath", `${where}: "path" is empty`);
      path = undefined; // some templates send "path": "" for a path-less operation
    }
  } else if (pathValue !== undefined && pathValue !== null) {
    refuse("invalidSyntax", `${where}: "path" must be a string`);
  }
  const value = field(raw, "value");
  if (op !== "remove" && value === undefined) refuse("invalidValue", `${where}: "${op}" needs a "value"`);
  return { op, path, value };
}
