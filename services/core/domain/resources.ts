// Users and groups as the directory core keeps them: the SCIM resource as accepted (with
// canonical attribute casing) plus the columns derived from it that queries and uniqueness
// need. Validation of an incoming SCIM resource lives here.
import { InvalidInputError, MutabilityError, NotFoundError, VersionMismatchError } from "./errors.ts";
import { excerpt } from "../../platform/text.ts";
import { jsonProblem } from "../../platform/json-limits.ts";
import { nestedGroupMessage } from "../../platform/scim/members.ts";
import { ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, normalizeResource, shapeProblem, USER_SCHEMA, type ResourceType } from "../../platform/scim/schema.ts";

export type Json = Record<string, unknown>;

export type UserState = "active" | "inactive" | "deleted";

export interface UserRecord {
  readonly id: string;
  readonly directoryId: string;
  readonly userName: string;
  readonly externalId: string | null;
  readonly active: boolean;
  readonly state: UserState;
  readonly displayName: string | null;
  /** The SCIM resource without id, meta and password. */
  readonly resource: Json;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly deletedAt: Date | null;
}

export interface GroupRecord {
  readonly id: string;
  readonly directoryId: string;
  readonly displayName: string;
  readonly externalId: string | null;
  /** The SCIM resource without id, meta and members. */
  readonly resource: Json;
  readonly memberCount: number;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly deletedAt: Date | null;
}

const MAX_STRING = 1024;

// Server-computed attributes, and the ones we deliberately never keep: Roster is not an
// authenticator, so the placeholder passwords IdPs send (Okta) are dropped, not stored.
const SERVER_OWNED = new Set(["id", "meta"]);
const NEVER_STORED = new Set(["password"]);

function optionalString(resource: Json, name: string): string | null {
  const value = resource[name];
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") throw new InvalidInputError("invalidValue", `${name} must be a string`);
  if (value.length > MAX_STRING) throw new InvalidInputError("invalidValue", `${name} must be at most ${MAX_STRING} characters`);
  return value;
}

function checkObject(raw: unknown, what: string): Json {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new InvalidInputError("invalidSyntax", `${what} must be a JSON object`);
  }
  // Whoever sent it (SCIM, an RPC, a PATCH result): what is stored stays readable by every
  // reader (depth) and storable (text).
  const problem = jsonProblem(raw);
  if (problem) throw new InvalidInputError(problem.kind, `${what}: ${problem.message}`);
  return raw as Json;
}

/** Canonical casing, string booleans coerced, shapes checked, server-owned attributes removed. */
function prepare(resourceType: ResourceType, raw: unknown, exclude: ReadonlySet<string>): Json {
  const normalized = normalizeResource(resourceType, checkObject(raw, `a ${resourceType} resource`));
  const shape = shapeProblem(resourceType, normalized, new Set([...SERVER_OWNED, ...exclude]));
  if (shape !== undefined) throw new InvalidInputError("invalidValue", shape);
  const out: Json = {};
  for (const [key, value] of Object.entries(normalized)) {
    if (SERVER_OWNED.has(key) || exclude.has(key)) continue;
    out[key] = value;
  }
  return out;
}

export interface UserFields {
  readonly resource: Json;
  readonly userName: string;
  readonly externalId: string | null;
  readonly active: boolean;
  readonly displayName: string | null;
}

/** Validates an incoming SCIM User and derives its indexed fields. */
export function userFields(raw: unknown): UserFields {
  const resource = prepare("User", raw, NEVER_STORED);
  const userName = optionalString(resource, "userName")?.trim();
  if (!userName) throw new InvalidInputError("invalidValue", "userName is required");
  const active = resource.active ?? true;
  if (typeof active !== "boolean") throw new InvalidInputError("invalidValue", "active must be a boolean");
  if ("groups" in resource) {
    // Read-only on User (RFC 7643 4.1.2): memberships change through the Group.
    delete resource.groups;
  }
  return {
    resource: { ...resource, userName, active },
    userName,
    externalId: optionalString(resource, "externalId"),
    active,
    displayName: optionalString(resource, "displayName"),
  };
}

export interface GroupFields {
  readonly resource: Json;
  readonly displayName: string;
  readonly externalId: string | null;
}

/** Validates an incoming SCIM Group (members are handled separately) and derives its fields. */
export function groupFields(raw: unknown): GroupFields {
  const resource = prepare("Group", raw, new Set(["members"]));
  const displayName = optionalString(resource, "displayName")?.trim();
  if (!displayName) throw new InvalidInputError("invalidValue", "displayName is required");
  return { resource: { ...resource, displayName }, displayName, externalId: optionalString(resource, "externalId") };
}

/**
 * A user as a SCIM PATCH sees it: the stored resource with its id, schemas and (read-only)
 * groups. No meta: the server computes it after the write.
 */
export function scimUser(user: UserRecord, groups: readonly GroupRecord[]): Json {
  const { schemas: _ignored, ...attributes } = user.resource;
  return {
    schemas: [USER_SCHEMA, ...(attributes[ENTERPRISE_USER_SCHEMA] !== undefined ? [ENTERPRISE_USER_SCHEMA] : [])],
    id: user.id,
    ...attributes,
    ...(groups.length > 0 ? { groups: groups.map((g) => ({ value: g.id, display: g.displayName, type: "direct" })) } : {}),
  };
}

/** A group as a SCIM PATCH sees it: without its members, which it changes by set operations. */
export function scimGroup(group: GroupRecord): Json {
  const { schemas: _ignored, ...attributes } = group.resource;
  return { schemas: [GROUP_SCHEMA], id: group.id, ...attributes };
}

/** The refusal of a group given as a member of a group (nested groups are not supported). */
export function nestedGroupError(id: string): InvalidInputError {
  return new InvalidInputError("invalidValue", nestedGroupMessage(id));
}

/**
 * Whether two JSON values are the same (key order aside; a key holding undefined counts as
 * absent). Stored resources are depth-bounded where they enter (checkObject), which bounds
 * the recursion.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    return a.length === other.length && a.every((v, i) => sameJson(v, other[i]));
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let defined = 0;
  for (const key in x) {
    if (x[key] === undefined) continue;
    defined++;
    if (!Object.hasOwn(y, key) || !sameJson(x[key], y[key])) return false;
  }
  for (const key in y) if (y[key] !== undefined) defined--;
  return defined === 0;
}

/** Top-level attributes whose values differ between two resources. */
export function changedAttributes(before: Json, after: Json): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((k) => !sameJson(before[k], after[k])).sort();
}

export function checkNotDeleted<T extends { deletedAt: Date | null }>(record: T | undefined, what: string, id: string): T {
  if (!record || record.deletedAt) throw new NotFoundError(`${what} ${excerpt(id)} not found`);
  return record;
}

export function checkVersion(current: number, expected: number | undefined, what: string): void {
  if (expected !== undefined && expected !== current) {
    throw new VersionMismatchError(`${what} is at version ${current}, not ${expected}`);
  }
}

/** A PUT or PATCH may repeat the id (Okta does) but not change it. */
export function refuseIdChange(raw: unknown, id: string): void {
  const sent = typeof raw === "object" && raw !== null ? (raw as Json).id : undefined;
  if (sent !== undefined && sent !== id) throw new MutabilityError("id is immutable");
}
