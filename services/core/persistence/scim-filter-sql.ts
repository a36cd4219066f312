// Compiles a SCIM filter to a parameterised Postgres WHERE fragment over the users (alias
// `u`) or groups (alias `g`) table. Meaning comes from the domain's filter plan, the same
// one the in-memory matcher evaluates; this file only says how each piece reads in SQL.
//
// The fragment is TRUE for a match and FALSE or NULL otherwise. `not` is `IS NOT TRUE`, so
// a comparison that is NULL because the attribute is absent counts as false under it too.
// Values only ever travel as `$n` parameters; attribute names and schema URNs written into
// the SQL come from the schema definitions, never from the filter text.

import type { AttrRef, CompareOp, Filter } from "../../platform/scim/ast.ts";
import { ScimFilterError } from "../../platform/scim/filter-error.ts";
import { planFilter, resolveTarget, type Operand, type Plan, type PlanOptions, type ResourceTarget, type Target } from "../../platform/scim/filter-eval.ts";
import type { AttributeDef, ResourceType } from "../../platform/scim/schema.ts";

type ColumnType = "text" | "uuid" | "boolean" | "timestamptz";

/** Where a value is read from: a typed column, or a jsonb expression. */
type ColumnAccess = { readonly kind: "column"; readonly sql: string; readonly type: ColumnType };
type Access = ColumnAccess | { readonly kind: "jsonb"; readonly sql: string };

/** How the element a value filter is looking at exposes its sub-attributes. */
type ElementAccess = (sub: AttributeDef) => Access;

const ALIAS: Record<ResourceType, string> = { User: "u", Group: "g" };

// Attributes held in columns, keyed "attribute" or "attribute.sub" (core schema only).
const COLUMNS: Record<ResourceType, ReadonlyMap<string, { readonly column: string; readonly type: ColumnType }>> = {
  User: new Map([
    ["id", { column: "id", type: "uuid" }],
    ["userName", { column: "user_name", type: "text" }],
    ["externalId", { column: "external_id", type: "text" }],
    ["displayName", { column: "display_name", type: "text" }],
    ["active", { column: "active", type: "boolean" }],
    ["meta.created", { column: "created_at", type: "timestamptz" }],
    ["meta.lastModified", { column: "updated_at", type: "timestamptz" }],
  ]),
  Group: new Map([
    ["id", { column: "id", type: "uuid" }],
    ["displayName", { column: "display_name", type: "text" }],
    ["externalId", { column: "external_id", type: "text" }],
    ["meta.created", { column: "created_at", type: "timestamptz" }],
    ["meta.lastModified", { column: "updated_at", type: "timestamptz" }],
  ]),
};

// Attributes Roster serves but builds on the way out: a user's `groups` (memberships),
// `schemas` (from the extensions held), and `meta` (the version, the public URL). They are
// not in the stored resource, so a filter on them is refused rather than answered as if
// they were absent; `meta.created` and `meta.lastModified` are columns and filter fine.
const COMPUTED: Record<ResourceType, ReadonlySet<string>> = {
  User: new Set(["groups", "schemas", "meta"]),
  Group: new Set(["schemas", "meta"]),
};

const SQL_OP: Record<CompareOp, string> = { eq: "=", ne: "<>", gt: ">", ge: ">=", lt: "<", le: "<=", co: "LIKE", sw: "LIKE", ew: "LIKE" };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A string literal for names from the schema (they hold no quotes; escaped anyway). */
const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** The column holding a resource-scoped attribute, if it has one. */
function columnFor(resourceType: ResourceType, t: ResourceTarget): ColumnAccess | undefined {
  if (t.extension !== undefined) return undefined;
  const column = COLUMNS[resourceType].get(t.sub === undefined ? t.attribute.name : `${t.attribute.name}.${t.sub.name}`);
  return column === undefined ? undefined : { kind: "column", sql: `${ALIAS[resourceType]}.${column.column}`, type: column.type };
}

/** The jsonb of a resource-scoped attribute (not of its sub-attribute). */
const jsonbAttr = (resourceType: ResourceType, t: ResourceTarget) =>
  `${ALIAS[resourceType]}.resource${t.extension === undefined ? "" : `->${lit(t.extension)}`}->${lit(t.attribute.name)}`;

/** The text of a jsonb string, NULL for any other jsonb type (no "42" matching a number). */
const jsonbText = (expr: string) => `(CASE WHEN jsonb_typeof(${expr}) = 'string' THEN (${expr}) #>> '{}' END)`;

/** LIKE pattern for co/sw/ew: the value's own %, _ and \ match literally. */
function likePattern(op: CompareOp, value: string): string {
  const escaped = value.replace(/[\\%_]/g, (c) => `\\${c}`);
  return op === "co" ? `%${escaped}%` : op === "sw" ? `${escaped}%` : `%${escaped}`;
}

/**
 * Compiles `filter` for `resourceType`, appending its values to `params` and referring to
 * them as `$n` (n counts from params' current length, so the caller may have pushed its own
 * first). Throws ScimFilterError for filters the schema rejects or the tables cannot answer.
 */
export function compileFilter(filter: Filter, resourceType: ResourceType, params: unknown[], opts: PlanOptions = {}): string {
  const alias = ALIAS[resourceType];
  let elementAliases = 0;
  const param = (v: unknown, cast: string) => {
    params.push(v);
    return `$${params.length}::${cast}`;
  };

  const jsonbElement = (expr: string): ElementAccess => (sub) => ({ kind: "jsonb", sql: `${expr}->${lit(sub.name)}` });
  const memberElement: ElementAccess = (sub) => {
    if (sub.name !== "value") throw new ScimFilterError(`filtering groups on members.${sub.name} is not supported; use members.value`);
    return { kind: "column", sql: "m.user_id", type: "uuid" };
  };
  // Members live in the memberships table, one row per member, not in the resource.
  const isMembers = (t: Target) => resourceType === "Group" && t.scope === "resource" && t.extension === undefined && t.attribute.name === "members";
  const memberships = (cond?: string) => `EXISTS (SELECT 1 FROM memberships m WHERE m.group_id = ${alias}.id${cond === undefined ? "" : ` AND ${cond}`})`;

  const refuseComputed = (t: ResourceTarget): void => {
    if (t.extension !== undefined || !COMPUTED[resourceType].has(t.attribute.name)) return;
    if (t.sub !== undefined && columnFor(resourceType, t) !== undefined) return;
    const name = t.sub === undefined ? t.attribute.name : `${t.attribute.name}.${t.sub.name}`;
    throw new ScimFilterError(`filtering ${resourceType === "User" ? "users" : "groups"} on "${name}" is not supported`);
  };

  /** `cond` applied to the target's values, true when some value satisfies it. */
  const someValue = (t: Target, element: ElementAccess | undefined, cond: (a: Access) => string): string => {
    if (t.scope === "element") {
      if (element === undefined) throw new Error("element target outside a value filter");
      return cond(element(t.attribute));
    }
    refuseComputed(t);
    if (isMembers(t)) return memberships(t.sub === undefined ? undefined : cond(memberElement(t.sub)));
    const column = columnFor(resourceType, t);
    if (column !== undefined) return cond(column);
    const attr = jsonbAttr(resourceType, t);
    const at = (expr: string): Access => ({ kind: "jsonb", sql: t.sub === undefined ? expr : `${expr}->${lit(t.sub.name)}` });
    if (!t.attribute.multiValued) return cond(at(attr));
    return eachElement(attr, (e) => cond(at(e)));
  };

  // 'lax $[*]' yields the elements of an array, a lone non-array value as one element, and
  // nothing for SQL NULL: the matcher's reading of multi-valued attributes, without the
  // error jsonb_array_elements raises on a non-array.
  const eachElement = (arrayExpr: string, cond: (element: string) => string): string => {
    const e = `e${++elementAliases}`;
    return `EXISTS (SELECT 1 FROM jsonb_path_query(${arrayExpr}, 'lax $[*]') AS ${e}(value) WHERE ${cond(`${e}.value`)})`;
  };

  const present = (a: Access): string => {
    if (a.kind === "jsonb") return `(${a.sql} NOT IN ('null'::jsonb, '""'::jsonb, '[]'::jsonb, '{}'::jsonb))`;
    return a.type === "text" ? `(${a.sql} <> '')` : `(${a.sql} IS NOT NULL)`;
  };

  const compareText = (text: string, op: CompareOp, value: string, caseExact: boolean): string => {
    const fold = (s: string) => (caseExact ? s : `lower(${s})`);
    if (op === "co" || op === "sw" || op === "ew") return `(${fold(text)} LIKE ${fold(param(likePattern(op, value), "text"))} ESCAPE '\\')`;
    // Ordering by code point (COLLATE "C"), as the matcher does; equality is bytewise anyway.
    const collate = op === "eq" || op === "ne" ? "" : ` COLLATE "C"`;
    return `(${fold(text)}${collate} ${SQL_OP[op]} ${fold(param(value, "text"))})`;
  };

  const compare = (a: Access, op: CompareOp, operand: Operand): string => {
    switch (operand.type) {
      case "string":
        if (a.kind === "jsonb") return compareText(jsonbText(a.sql), op, operand.value, operand.caseExact);
        if (a.type === "uuid" && (op === "eq" || op === "ne")) {
          // Compare as uuid (indexable, and no cast error on "not-a-uuid"): a value that is
          // not a uuid in the stored (lower-case) form equals no row.
          const v = operand.caseExact ? operand.value : operand.value.toLowerCase();
          if (!UUID.test(v)) return op === "eq" ? "FALSE" : `(${a.sql} IS NOT NULL)`;
          return `(${a.sql} ${SQL_OP[op]} ${param(v, "uuid")})`;
        }
        return compareText(a.type === "text" ? a.sql : `${a.sql}::text`, op, operand.value, operand.caseExact);
      case "boolean": {
        // eq and ne only (the plan rejects the rest); ne true is eq false on a boolean.
        const v = op === "eq" ? operand.value : !operand.value;
        return a.kind === "jsonb" ? `(${a.sql} = to_jsonb(${param(v, "boolean")}))` : `(${a.sql} = ${param(v, "boolean")})`;
      }
      case "number":
        if (a.kind === "column") throw new Error(`no numeric column for ${a.sql}`);
        return `((CASE WHEN jsonb_typeof(${a.sql}) = 'number' THEN ((${a.sql}) #>> '{}')::numeric END) ${SQL_OP[op]} ${param(operand.value, "numeric")})`;
      case "instant":
        // Only meta.created and meta.lastModified are dateTimes, and both are columns; a
        // jsonb cast would turn a malformed stored value into an SQL error.
        if (a.kind !== "column" || a.type !== "timestamptz") throw new ScimFilterError("filtering on this dateTime attribute is not supported");
        return `(${a.sql} ${SQL_OP[op]} ${param(operand.iso, "timestamptz")})`;
    }
  };

  const compile = (p: Plan, element: ElementAccess | undefined): string => {
    switch (p.kind) {
      case "const":
        return p.value ? "TRUE" : "FALSE";
      case "and":
      case "or":
        return `(${compile(p.left, element)} ${p.kind.toUpperCase()} ${compile(p.right, element)})`;
      case "not":
        return `(${compile(p.plan, element)} IS NOT TRUE)`;
      case "present":
        return someValue(p.target, element, present);
      case "compare":
        return someValue(p.target, element, (a) => compare(a, p.op, p.operand));
      case "some": {
        const t = p.target;
        refuseComputed(t);
        if (isMembers(t)) return memberships(compile(p.plan, memberElement));
        const attr = jsonbAttr(resourceType, t);
        if (!t.attribute.multiValued) return compile(p.plan, jsonbElement(attr));
        return eachElement(attr, (e) => compile(p.plan, jsonbElement(e)));
      }
    }
  };

  return compile(planFilter(filter, resourceType, opts), undefined);
}

/**
 * The ORDER BY expression for `sortBy` (RFC 7644 section 3.4.2.3), without direction. It
 * holds no values, only schema names. Strings sort case-insensitively unless caseExact; a
 * multi-valued attribute sorts by its primary element's value, else its first element's; a
 * complex attribute by its "value" sub-attribute. Attributes it cannot sort by (unknown,
 * never returned, group members, complex without "value") give a NULL key, i.e. no ordering.
 */
export function compileSortKey(sortBy: AttrRef, resourceType: ResourceType): string {
  let t = resolveTarget(resourceType, sortBy);
  if (t !== undefined && t.sub === undefined && t.attribute.type === "complex") {
    const value = t.attribute.subAttributes?.find((s) => s.name === "value");
    t = value === undefined ? undefined : { ...t, sub: value };
  }
  // A bare NULL is "non-integer constant in ORDER BY"; a typed NULL is an expression.
  if (t === undefined || (resourceType === "Group" && t.attribute.name === "members")) return "NULL::text";
  const def = t.sub ?? t.attribute;
  const column = columnFor(resourceType, t);
  const key = (json: string): string => {
    if (def.type === "boolean") return `(CASE WHEN jsonb_typeof(${json}) = 'boolean' THEN (${json})::boolean END)`;
    if (def.type === "integer" || def.type === "decimal") return `(CASE WHEN jsonb_typeof(${json}) = 'number' THEN (${json})::numeric END)`;
    return def.caseExact ? jsonbText(json) : `lower(${jsonbText(json)})`;
  };
  if (column !== undefined) return column.type === "text" && !def.caseExact ? `lower(${column.sql})` : column.sql;
  const attr = jsonbAttr(resourceType, t);
  const sub = t.sub;
  if (!t.attribute.multiValued) return key(sub === undefined ? attr : `${attr}->${lit(sub.name)}`);
  const element = sub === undefined ? "e.value" : `e.value->${lit(sub.name)}`;
  return (
    `(SELECT ${key(element)} FROM jsonb_path_query(${attr}, 'lax $[*]') WITH ORDINALITY AS e(value, n) ` +
    `ORDER BY e.value->'primary' = 'true'::jsonb DESC NULLS LAST, e.n LIMIT 1)`
  );
}
