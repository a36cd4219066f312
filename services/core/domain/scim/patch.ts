// The SCIM PATCH engine (RFC 7644 section 3.5.2) over plain JSON resources.
//
// Why not the npm `scim-patch` (0.8.3, weighed per DESIGN.md): it is schema-blind (names are
// case-sensitive, no mutability, required or type checks, no "True"/"False" coercion, no
// `primary` uniqueness), mutates its input unless asked to copy, and would need a Group's
// whole member list in memory. We need member changes as deltas for large groups, the IdP
// quirks below, and the exact RFC `scimType` for every failure; wrapping it would cost more
// code than this file.
//
// Contract: the input is never modified; either every operation applies or an error is
// thrown (RFC 7644: "the operations are processed ... atomically").

import { isDeepStrictEqual } from "node:util";
import type { Filter, PatchPath } from "../../../platform/scim/ast.ts";
import { InvalidInputError, MutabilityError, type InvalidKind } from "../errors.ts";
import { matchesFilter, parsePatchPath } from "../../../platform/scim/filter.ts";
import { ScimRequestError } from "../../../platform/scim/errors.ts";
import { cloneJson, type JsonObject, type JsonValue } from "../../../platform/scim/json.ts";
import { readPatchOperations, type OpName, type PatchOperation } from "../../../platform/scim/patch-request.ts";
import {
  canonicalSchemaUrn,
  findAttribute,
  findSubAttribute,
  normalizeResource,
  schemasFor,
  type AttributeDef,
  type ResolvedAttribute,
  type ResourceType,
} from "../../../platform/scim/schema.ts";

/**
 * Changes to a Group's members, folded in operation order: the stored member list is never
 * read. Apply as: start from `replaceAll` when set (then `add` and `remove` are empty),
 * otherwise from the stored members; add `add`; drop `remove`. `add` and `remove` are
 * disjoint; for an id named by several operations, the last one wins.
 */
export interface MemberChanges {
  replaceAll?: string[];
  add: string[];
  remove: string[];
}

export interface PatchOptions {
  /** IdP quirks: string booleans, bare-string member/manager ids, upserts by filter, unknown attributes ignored. */
  readonly lenient: boolean;
}

export interface PatchResult {
  /** The patched resource, attribute names in canonical case. */
  resource: JsonObject;
  /**
   * Whether `resource` differs from the input; false when every operation was a no-op (RFC
   * 7644: then meta.lastModified must not move). Member changes are reported apart, in `members`.
   */
  changed: boolean;
  /** Group only, present when an operation addressed `members`. */
  members?: MemberChanges;
}

export type ScimPatchErrorType = InvalidKind | "mutability";

/** A PATCH rejected with an RFC 7644 section 3.12 `scimType` (400 invalid* / noTarget / tooMany). */
export class ScimPatchError extends InvalidInputError {
  override name = "ScimPatchError";
  get scimType(): ScimPatchErrorType {
    return this.kind;
  }
}

/**
 * A PATCH rejected with `scimType: "mutability"`. A subclass of the domain MutabilityError so
 * that the transports' one mapping (SCIM 400 mutability, Connect FailedPrecondition) applies.
 */
export class ScimPatchMutabilityError extends MutabilityError {
  override name = "ScimPatchMutabilityError";
  readonly scimType = "mutability" as const;
}

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

function fail(scimType: ScimPatchErrorType, detail: string): never {
  if (scimType === "mutability") throw new ScimPatchMutabilityError(detail);
  throw new ScimPatchError(scimType, detail);
}

interface Context {
  readonly resourceType: ResourceType;
  readonly lenient: boolean;
  readonly resource: JsonObject;
  readonly members: MemberFold;
  /** Extensions written to, whose `schemas` entry must follow their content. */
  readonly extensions: Set<string>;
}

/**
 * Applies a PatchOp request body to a resource. `resource` is the stored resource as served
 * (with `id`), `body` the raw request body. Throws ScimPatchError or ScimPatchMutabilityError.
 */
export function applyPatch(resourceType: ResourceType, resource: JsonObject, body: unknown, opts: PatchOptions): PatchResult {
  let operations: PatchOperation[];
  try {
    operations = readPatchOperations(body, opts.lenient);
  } catch (e) {
    if (e instanceof ScimRequestError) fail(e.kind, e.message);
    throw e;
  }
  const before = normalizeResource(resourceType, resource) as JsonObject;
  const ctx: Context = {
    resourceType,
    lenient: opts.lenient,
    resource: cloneJson(before),
    members: new MemberFold(),
    extensions: new Set(),
  };
  operations.forEach((operation, i) => {
    try {
      applyOperation(ctx, operation);
    } catch (e) {
      if (e instanceof ScimPatchError || e instanceof ScimPatchMutabilityError) {
        fail(e.scimType, `Operations[${i}] (${operation.op}${operation.path === undefined ? "" : ` ${operation.path}`}): ${e.message}`);
      }
      throw e;
    }
  });
  for (const urn of ctx.extensions) tidyExtension(ctx.resource, urn);
  return {
    resource: ctx.resource,
    changed: !isDeepStrictEqual(before, ctx.resource),
    ...(ctx.members.touched ? { members: ctx.members.result() } : {}),
  };
}

// ---------------------------------------------------------------------------------------
// Operations

function applyOperation(ctx: Context, { op, path, value }: PatchOperation): void {
  if (path !== undefined) return applyAt(ctx, op, path, value);
  // RFC 7644 section 3.5.2.2: a remove without a path has no target.
  if (op === "remove") fail("noTarget", "remove needs a path");
  applyEach(ctx, op, value, "");
}

/**
 * A path-less add/replace, or one whose path is a schema URN: each key of the value is
 * applied as a path of its own. This is also how Entra's dotted keys
 * (`{"name.givenName": "x", "urn:...:enterprise:2.0:User:department": "y"}`) work.
 */
function applyEach(ctx: Context, op: OpName, value: unknown, prefix: string): void {
  if (!isObject(value)) fail("invalidValue", `a ${op} without an attribute path takes an object of attributes`);
  for (const [key, v] of Object.entries(value)) applyAt(ctx, op, prefix + key, v);
}

function applyAt(ctx: Context, op: OpName, pathText: string, value: unknown): void {
  const schemaUrn = canonicalSchemaUrn(pathText.trim());
  if (schemaUrn !== undefined) return applyToSchema(ctx, op, schemaUrn, value, pathText);

  let path: PatchPath;
  try {
    path = parsePatchPath(pathText, { lenient: ctx.lenient });
  } catch (e) {
    if (e instanceof ScimRequestError) fail(e.kind, e.message);
    throw e;
  }
  const resolved = findAttribute(ctx.resourceType, path.attr);
  const sub = resolved !== undefined && path.subAfterFilter !== undefined ? findSubAttribute(resolved.attribute, path.subAfterFilter) : resolved?.sub;
  if (resolved === undefined || (path.subAfterFilter !== undefined && sub === undefined)) {
    // Lenient: IdPs send attributes we do not model (custom extensions); like PUT, ignore them.
    if (ctx.lenient) return;
    fail("invalidPath", `unknown attribute "${pathText}"`);
  }
  const attribute = resolved.attribute;
  if (!resolved.extension && attribute.name === "schemas") return applyToSchemasAttribute(ctx, op, value);
  if (ctx.resourceType === "Group" && attribute.name === "members") return applyToMembers(ctx, op, path, value);

  // RFC 7644 3.5.2.2: removing a read-only attribute (or part of one) is a mutability
  // error in every mode, whether or not the value given would have matched anything.
  if (op === "remove" && (attribute.mutability === "readOnly" || sub?.mutability === "readOnly")) {
    fail("mutability", `"${sub === undefined ? attribute.name : `${attribute.name}.${sub.name}`}" is read-only`);
  }
  const container = containerOf(ctx, resolved);
  const old = container[attribute.name];
  const target: Target = { resolved, attribute, sub, filter: path.filter };
  const next = path.filter === undefined ? (sub === undefined ? wholeValue(ctx, op, target, old, value) : subValue(ctx, op, target, old, value)) : filteredValue(ctx, op, target, old, value);
  checkMutability(attribute, old, next, attribute.name);
  if (next === undefined) delete container[attribute.name];
  else container[attribute.name] = next;
}

interface Target {
  readonly resolved: ResolvedAttribute;
  readonly attribute: AttributeDef;
  /** `name.givenName` or `emails[...].value`. */
  readonly sub: AttributeDef | undefined;
  readonly filter: Filter | undefined;
}

/** A path naming a schema URN alone: the extension object (or, for the core URN, the resource). */
function applyToSchema(ctx: Context, op: OpName, urn: string, value: unknown, pathText: string): void {
  const { core, extensions } = schemasFor(ctx.resourceType);
  if (urn === core.id) {
    if (op === "remove") fail("mutability", "the resource itself cannot be removed by PATCH");
    return applyEach(ctx, op, value, "");
  }
  if (!extensions.some((x) => x.id === urn)) {
    if (ctx.lenient) return;
    fail("invalidPath", `"${pathText}" is not a schema of a ${ctx.resourceType}`);
  }
  if (op === "remove") {
    // Every attribute of an extension goes, each one subject to its own mutability.
    const ext = ctx.resource[urn];
    if (isObject(ext)) for (const key of Object.keys(ext)) applyAt(ctx, "remove", `${urn}:${key}`, undefined);
    ctx.extensions.add(urn);
    return;
  }
  applyEach(ctx, op, value, `${urn}:`);
}

/**
 * `schemas` follows the resource's content (the core schema plus the extensions holding
 * data), so it is not written directly; naming schemas this resource type knows is accepted
 * as a no-op (IdPs echo it in path-less replaces).
 */
function applyToSchemasAttribute(ctx: Context, op: OpName, value: unknown): void {
  if (op === "remove") fail("mutability", `"schemas" is required`);
  const { core, extensions } = schemasFor(ctx.resourceType);
  const known = new Set([core.id, ...extensions.map((x) => x.id)]);
  for (const urn of Array.isArray(value) ? value : [value]) {
    const canonical = typeof urn === "string" ? canonicalSchemaUrn(urn) : undefined;
    if ((canonical === undefined || !known.has(canonical)) && !ctx.lenient) {
      fail("invalidValue", `"schemas" may name only ${[...known].join(", ")}, not ${JSON.stringify(urn)}`);
    }
  }
}

function containerOf(ctx: Context, resolved: ResolvedAttribute): JsonObject {
  if (!resolved.extension) return ctx.resource;
  ctx.extensions.add(resolved.schema);
  const existing = ctx.resource[resolved.schema];
  if (isObject(existing)) return existing;
  const created: JsonObject = {};
  ctx.resource[resolved.schema] = created;
  return created;
}

/** RFC 7643 section 3: `schemas` lists the extensions a resource carries, and only those. */
function tidyExtension(resource: JsonObject, urn: string): void {
  const ext = resource[urn];
  const present = isObject(ext) && Object.keys(ext).length > 0;
  if (!present) delete resource[urn];
  const schemas = Array.isArray(resource.schemas) ? resource.schemas : [];
  const listed = schemas.includes(urn);
  if (present && !listed) resource.schemas = [...schemas, urn];
  if (!present && listed) resource.schemas = schemas.filter((s) => s !== urn);
}

// --- no filter, no sub-attribute: `userName`, `name`, `emails`, `urn:...:manager`

function wholeValue(ctx: Context, op: OpName, t: Target, old: JsonValue | undefined, value: unknown): JsonValue | undefined {
  const def = t.attribute;
  if (op === "remove") {
    // Entra removes members and managers with a value naming what to remove.
    if (def.multiValued && value !== undefined && value !== null && Array.isArray(old)) {
      const items = coerceItems(ctx, def, value);
      return nonEmpty(old.filter((e) => !items.some((item) => matchesItem(e, item))));
    }
    return undefined;
  }
  // RFC 7643 section 2.5: null and [] mean unassigned; adding nothing changes nothing.
  const unassigned = value === null || (Array.isArray(value) && value.length === 0);
  if (unassigned) return op === "add" ? old : undefined;
  if (def.multiValued) {
    const items = dedupe(coerceItems(ctx, def, value));
    // add appends what is not there yet (RFC 7644 section 3.5.2.1); replace replaces all.
    const kept = op === "add" && Array.isArray(old) ? old : [];
    const next = [...kept, ...items.filter((item) => !kept.some((e) => isDeepStrictEqual(e, item)))];
    return nonEmpty(withSinglePrimary(def, next, range(kept.length, next.length)));
  }
  const v = coerce(ctx, def, value);
  if (def.type !== "complex") return v;
  // A complex attribute is merged: sub-attributes not given are left unchanged (3.5.2.1, 3.5.2.3).
  return v === undefined ? old : { ...(isObject(old) ? old : {}), ...(v as JsonObject) };
}

// --- a sub-attribute without filter: `name.givenName`, `emails.type`

function subValue(ctx: Context, op: OpName, t: Target, old: JsonValue | undefined, value: unknown): JsonValue | undefined {
  const sub = t.sub!;
  const v = op === "remove" ? undefined : coerce(ctx, sub, value);
  if (!t.attribute.multiValued) return nonEmptyObject(withSub(isObject(old) ? old : {}, sub, v));
  // On a multi-valued attribute the sub-attribute of every element is addressed; with none
  // yet, add/replace creates one element (RFC 7644: replace of a missing target is an add).
  const elements = Array.isArray(old) ? old.filter(isObject) : [];
  if (elements.length === 0) return v === undefined ? old : [withSub({}, sub, v)];
  const next = elements.map((e) => withSub(e, sub, v)).filter((e) => Object.keys(e).length > 0);
  return nonEmpty(withSinglePrimary(t.attribute, next, range(0, next.length)));
}

// --- a value filter: `emails[type eq "work"]`, `addresses[type eq "work"].streetAddress`

function filteredValue(ctx: Context, op: OpName, t: Target, old: JsonValue | undefined, value: unknown): JsonValue | undefined {
  const def = t.attribute;
  if (!def.multiValued || def.type !== "complex") fail("invalidPath", `"${def.name}" is not multi-valued: a value filter cannot select from it`);
  const elements = Array.isArray(old) ? old.filter(isObject) : [];
  const matched = new Set(elements.filter((e) => elementMatches(ctx, t, e)));
  const sub = t.sub;

  if (op === "remove") {
    // RFC 7644 section 3.5.2.2 asks noTarget only for a missing path: a filter matching
    // nothing leaves nothing to remove (IdPs retry removals of absent values).
    const next = sub === undefined ? elements.filter((e) => !matched.has(e)) : elements.map((e) => (matched.has(e) ? withSub(e, sub, undefined) : e));
    return nonEmpty(next.filter((e) => Object.keys(e).length > 0));
  }

  const written: JsonObject | undefined = sub === undefined ? (coerce(ctx, def, value) as JsonObject | undefined) : undefined;
  const apply = (e: JsonObject): JsonObject => (sub === undefined ? { ...e, ...written } : withSub(e, sub, coerce(ctx, sub, value)));

  if (matched.size === 0) {
    // No match. An add (and, lenient, a replace: Entra replaces `emails[type eq "work"].value`
    // on users without one) creates the element the filter describes, when it is made of
    // `eq` comparisons; otherwise RFC 7644 section 3.5.2.3 says noTarget.
    const described = op === "add" || ctx.lenient ? filterAsElement(ctx, def, t.filter!) : undefined;
    if (described === undefined) fail("noTarget", `no value of "${def.name}" matches the filter`);
    if (value === null) return old;
    const next = [...elements, apply(described)];
    return withSinglePrimary(def, next, [next.length - 1]);
  }
  const next = elements.map((e) => (matched.has(e) ? apply(e) : e));
  const writtenAt = elements.flatMap((e, i) => (matched.has(e) ? [i] : []));
  return nonEmpty(withSinglePrimary(def, next, writtenAt).filter((e) => !isObject(e) || Object.keys(e).length > 0));
}

function elementMatches(ctx: Context, t: Target, element: JsonObject): boolean {
  const { resolved, attribute } = t;
  // matchesFilter evaluates against a resource: wrap the one element as one.
  const holder: JsonObject = { [attribute.name]: [element] };
  const resource = resolved.extension ? { [resolved.schema]: holder } : holder;
  const attr = resolved.extension ? { schema: resolved.schema.toLowerCase(), name: attribute.name } : { name: attribute.name };
  try {
    return matchesFilter({ kind: "valuePath", attr, filter: t.filter! }, resource, ctx.resourceType, { strict: !ctx.lenient });
  } catch (e) {
    if (e instanceof ScimRequestError) fail(e.kind, e.message);
    throw e;
  }
}

/** The element a filter of `eq` comparisons joined by `and` describes: `type eq "work"` is `{type: "work"}`. */
function filterAsElement(ctx: Context, def: AttributeDef, filter: Filter): JsonObject | undefined {
  switch (filter.kind) {
    case "and": {
      const left = filterAsElement(ctx, def, filter.left);
      const right = filterAsElement(ctx, def, filter.right);
      return left === undefined || right === undefined ? undefined : { ...left, ...right };
    }
    case "compare": {
      const sub = filter.attr.sub === undefined && filter.attr.schema === undefined ? findSubAttribute(def, filter.attr.name) : undefined;
      if (filter.op !== "eq" || sub === undefined || filter.value === null) return undefined;
      const v = coerce(ctx, sub, filter.value);
      return v === undefined ? undefined : { [sub.name]: v };
    }
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------
// Values

/** A value for an attribute: validated against its type, names in canonical case. Null is undefined (unassigned). */
function coerce(ctx: Context, def: AttributeDef, value: unknown): JsonValue | undefined {
  if (value === null || value === undefined) return undefined;
  const invalid = (): never => fail("invalidValue", `"${def.name}" takes a ${def.type}, not ${JSON.stringify(value)}`);
  switch (def.type) {
    case "complex":
      return coerceComplex(ctx, def, value);
    case "boolean":
      if (typeof value === "boolean") return value;
      // Entra sends "True"/"False".
      if (ctx.lenient && typeof value === "string" && /^(true|false)$/i.test(value)) return value.toLowerCase() === "true";
      return invalid();
    case "integer":
      return typeof value === "number" && Number.isInteger(value) ? value : invalid();
    case "decimal":
      return typeof value === "number" && Number.isFinite(value) ? value : invalid();
    case "dateTime":
      return typeof value === "string" && !Number.isNaN(Date.parse(value)) ? value : invalid();
    case "string":
    case "reference":
    case "binary":
      return typeof value === "string" ? value : invalid();
  }
}

function coerceComplex(ctx: Context, def: AttributeDef, value: unknown): JsonObject | undefined {
  // Entra sends a manager, and its conformance suite a member, as the bare id.
  if (ctx.lenient && (typeof value === "string" || typeof value === "number") && findSubAttribute(def, "value") !== undefined) {
    return coerceComplex(ctx, def, { value: String(value) });
  }
  if (!isObject(value)) fail("invalidValue", `"${def.name}" takes an object of sub-attributes, not ${JSON.stringify(value)}`);
  const out: JsonObject = {};
  for (const [key, v] of Object.entries(value)) {
    const sub = findSubAttribute(def, key);
    if (sub === undefined) {
      if (ctx.lenient) continue;
      fail("invalidValue", `"${def.name}" has no sub-attribute "${key}"`);
    }
    // As for PUT (RFC 7644 section 3.5.1), read-only values sent along with writable ones are
    // ignored (a member's display). Kept under a read-only parent, so a change to it is seen.
    if (sub.mutability === "readOnly" && def.mutability !== "readOnly") continue;
    const coerced = coerce(ctx, sub, v);
    if (coerced !== undefined) out[sub.name] = coerced;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

/** The values of a multi-valued attribute: an array, or (as IdPs send it) one value alone. */
const asList = (value: unknown): unknown[] => (Array.isArray(value) ? value : [value]);

function coerceItems(ctx: Context, def: AttributeDef, value: unknown): JsonValue[] {
  const out = asList(value).map((item) => coerce(ctx, def, item)).filter((v) => v !== undefined);
  const primaries = out.filter((v) => isObject(v) && v.primary === true).length;
  // RFC 7643 section 2.4: "primary" true at most once.
  if (primaries > 1) fail("invalidValue", `more than one "${def.name}" value is primary`);
  return out;
}

/** For a removal by value: an object matches an element holding all its sub-attributes; a bare value matches `value`. */
function matchesItem(element: JsonValue, item: JsonValue): boolean {
  if (!isObject(element)) return isDeepStrictEqual(element, item);
  if (!isObject(item)) return isDeepStrictEqual(element.value, item);
  return Object.entries(item).every(([k, v]) => isDeepStrictEqual(element[k], v));
}

/**
 * RFC 7643 section 2.4: one "primary" value at most. When a written element is primary, the
 * others stop being primary; two written primaries are an invalid request.
 */
function withSinglePrimary(def: AttributeDef, elements: JsonValue[], writtenAt: readonly number[]): JsonValue[] {
  if (findSubAttribute(def, "primary") === undefined) return elements;
  const winners = writtenAt.filter((i) => isObject(elements[i]) && (elements[i] as JsonObject).primary === true);
  if (winners.length > 1) fail("invalidValue", `this would make more than one "${def.name}" value primary`);
  const [winner] = winners;
  if (winner === undefined) return elements;
  return elements.map((e, i) => (i !== winner && isObject(e) && e.primary === true ? { ...e, primary: false } : e));
}

function withSub(element: JsonObject, sub: AttributeDef, v: JsonValue | undefined): JsonObject {
  const { [sub.name]: _, ...rest } = element;
  return v === undefined ? rest : { ...rest, [sub.name]: v };
}

function dedupe(items: JsonValue[]): JsonValue[] {
  return items.filter((item, i) => items.findIndex((other) => isDeepStrictEqual(other, item)) === i);
}

const nonEmpty = (a: JsonValue[]): JsonValue[] | undefined => (a.length === 0 ? undefined : a);
const nonEmptyObject = (o: JsonObject): JsonObject | undefined => (Object.keys(o).length === 0 ? undefined : o);
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

/**
 * RFC 7644 section 3.5.2: operations must respect mutability; an unchanged value is no
 * change (Okta re-sends the group's `id`). readOnly never changes, immutable only from
 * unassigned, required never becomes unassigned (3.5.2.2). Sub-attributes of a single
 * complex value are checked the same way (the manager's readOnly displayName).
 */
function checkMutability(def: AttributeDef, old: JsonValue | undefined, next: JsonValue | undefined, name: string): void {
  if (isDeepStrictEqual(old, next)) return;
  if (def.mutability === "readOnly") fail("mutability", `"${name}" is read-only`);
  if (def.mutability === "immutable" && old !== undefined) fail("mutability", `"${name}" is immutable once set`);
  if (def.required && next === undefined) fail("mutability", `"${name}" is required and cannot be removed`);
  // Sub-attributes, when a single complex value is edited in place (removing it entirely
  // takes its read-only parts along).
  if (def.type === "complex" && !def.multiValued && isObject(old) && isObject(next)) {
    for (const sub of def.subAttributes ?? []) checkMutability(sub, old[sub.name], next[sub.name], `${name}.${sub.name}`);
  }
}

// ---------------------------------------------------------------------------------------
// Group members

/** Member operations folded into deltas, in order; see MemberChanges. */
class MemberFold {
  touched = false;
  replaceAll: Set<string> | undefined;
  readonly add = new Set<string>();
  readonly remove = new Set<string>();

  addMember(id: string): void {
    this.touched = true;
    if (this.replaceAll !== undefined) {
      this.replaceAll.add(id);
    } else {
      this.remove.delete(id);
      this.add.add(id);
    }
  }

  removeMember(id: string): void {
    this.touched = true;
    if (this.replaceAll !== undefined) {
      this.replaceAll.delete(id);
    } else {
      this.add.delete(id);
      this.remove.add(id);
    }
  }

  reset(ids: readonly string[]): void {
    this.touched = true;
    this.replaceAll = new Set(ids);
    this.add.clear();
    this.remove.clear();
  }

  result(): MemberChanges {
    return {
      ...(this.replaceAll === undefined ? {} : { replaceAll: [...this.replaceAll] }),
      add: [...this.add],
      remove: [...this.remove],
    };
  }
}

function applyToMembers(ctx: Context, op: OpName, path: PatchPath, value: unknown): void {
  const members = ctx.members;
  if (path.attr.sub !== undefined || path.subAfterFilter !== undefined) {
    fail("invalidPath", "a member's sub-attributes cannot be patched: add or remove the member");
  }
  if (path.filter !== undefined) {
    // Okta: remove `members[value eq "id"]`; also several ids joined with `or`.
    if (op !== "remove") fail("invalidPath", `only remove takes a filtered "members" path`);
    const ids = memberIdsOfFilter(path.filter);
    if (ids === undefined) fail("invalidFilter", `members are selected only by 'value eq "id"', joined with or`);
    return ids.forEach((id) => members.removeMember(id));
  }
  const ids = memberIds(ctx, value);
  if (op === "add") ids.forEach((id) => members.addMember(id));
  // A remove without value removes every member; Entra names the members to remove in the value.
  else if (op === "replace" || value === undefined || value === null) members.reset(ids);
  else ids.forEach((id) => members.removeMember(id));
}

function memberIds(ctx: Context, value: unknown): string[] {
  const def = findAttribute("Group", { name: "members" })!.attribute;
  if (value === undefined || value === null) return [];
  return asList(value).map((raw) => {
    const item = coerce(ctx, def, raw);
    const id = isObject(item) ? item.value : undefined;
    if (typeof id !== "string" || id === "") fail("invalidValue", `a member needs a "value" holding its id`);
    return id;
  });
}

function memberIdsOfFilter(filter: Filter): string[] | undefined {
  if (filter.kind === "or") {
    const left = memberIdsOfFilter(filter.left);
    const right = memberIdsOfFilter(filter.right);
    return left === undefined || right === undefined ? undefined : [...left, ...right];
  }
  const isValueEq =
    filter.kind === "compare" && filter.op === "eq" && filter.attr.name.toLowerCase() === "value" && filter.attr.sub === undefined && filter.attr.schema === undefined;
  return isValueEq && typeof filter.value === "string" ? [filter.value] : undefined;
}
