// Filter semantics, decided once: `planFilter` resolves a parsed filter against the schema
// (attribute definitions, caseExact, types, the implicit `value` sub-attribute, typed
// operands, unknown attributes). Both the in-memory matcher below and the SQL compiler in
// persistence consume the plan, so they cannot disagree on what a filter means.
//
// Semantics (RFC 7644 section 3.4.2.2 where it speaks, otherwise SQL-like):
// - a comparison holds when SOME value of the attribute satisfies it (multi-valued
//   attributes, `emails.value eq ...`); an absent attribute satisfies no comparison, `ne`
//   included; `not (...)` of a comparison on an absent attribute holds.
// - `pr`: some value is present, i.e. not null, "", [] or {}.
// - `eq null` is `not (pr)`, `ne null` is `pr`.
// - strings compare lower-cased unless the attribute is caseExact; `gt`/`lt` on strings are
//   code-point lexicographic; dateTimes compare as instants (microsecond precision, like
//   Postgres timestamptz); ordering operators on booleans and binaries are invalidFilter.
// - unknown attributes, and attributes never returned (password), match nothing; with
//   `strict` they are an invalidFilter error.

import type { AttrRef, CompareOp, Filter } from "./ast.ts";
import { ScimFilterError } from "./filter-error.ts";
import { findAttribute, findSubAttribute, type AttributeDef, type ResourceType } from "./schema.ts";

export interface PlanOptions {
  /** Unknown attributes are an error instead of matching nothing. */
  readonly strict?: boolean;
}

/** An attribute read from the resource root (or its extension object). */
export interface ResourceTarget {
  readonly scope: "resource";
  /** The extension URN when the attribute lives under `resource[urn]`. */
  readonly extension?: string;
  readonly attribute: AttributeDef;
  readonly sub?: AttributeDef;
}

/** A sub-attribute read from the element a value filter is looking at. */
export interface ElementTarget {
  readonly scope: "element";
  readonly attribute: AttributeDef;
}

export type Target = ResourceTarget | ElementTarget;

export type Operand =
  | { readonly type: "string"; readonly value: string; readonly caseExact: boolean }
  | { readonly type: "boolean"; readonly value: boolean }
  | { readonly type: "number"; readonly value: number }
  /** Microseconds since the epoch, and the same instant as an ISO 8601 UTC string. */
  | { readonly type: "instant"; readonly micros: number; readonly iso: string };

export type Plan =
  | { readonly kind: "const"; readonly value: boolean }
  | { readonly kind: "and" | "or"; readonly left: Plan; readonly right: Plan }
  | { readonly kind: "not"; readonly plan: Plan }
  | { readonly kind: "present"; readonly target: Target }
  | { readonly kind: "compare"; readonly target: Target; readonly op: CompareOp; readonly operand: Operand }
  /** A value filter: some element of `target` satisfies `plan`, whose targets are element-scoped. */
  | { readonly kind: "some"; readonly target: ResourceTarget; readonly plan: Plan };

/** The definition whose characteristics govern a target's values. */
export function targetDef(t: Target): AttributeDef {
  return t.scope === "resource" ? (t.sub ?? t.attribute) : t.attribute;
}

const attrText = (a: AttrRef) => `${a.schema === undefined ? "" : `${a.schema}:`}${a.name}${a.sub === undefined ? "" : `.${a.sub}`}`;

/**
 * An attribute reference resolved from the resource root, or undefined when it is unknown or
 * never returned (a filter or sort on `password` must not reveal anything about it).
 */
export function resolveTarget(resourceType: ResourceType, a: AttrRef): ResourceTarget | undefined {
  const r = findAttribute(resourceType, a);
  if (r === undefined || r.attribute.returned === "never" || r.sub?.returned === "never") return undefined;
  return {
    scope: "resource",
    ...(r.extension ? { extension: r.schema } : {}),
    attribute: r.attribute,
    ...(r.sub === undefined ? {} : { sub: r.sub }),
  };
}

export function planFilter(filter: Filter, resourceType: ResourceType, opts: PlanOptions = {}): Plan {
  const unknown = (a: AttrRef): Plan => {
    if (opts.strict) throw new ScimFilterError(`unknown attribute "${attrText(a)}"`);
    return { kind: "const", value: false };
  };

  const resolve = (a: AttrRef, element: AttributeDef | undefined): Target | undefined => {
    if (element === undefined) return resolveTarget(resourceType, a);
    if (a.schema !== undefined || a.sub !== undefined) return undefined;
    const attribute = findSubAttribute(element, a.name);
    return attribute === undefined || attribute.returned === "never" ? undefined : { scope: "element", attribute };
  };

  const plan = (f: Filter, element: AttributeDef | undefined): Plan => {
    switch (f.kind) {
      case "and":
      case "or":
        return { kind: f.kind, left: plan(f.left, element), right: plan(f.right, element) };
      case "not":
        return { kind: "not", plan: plan(f.filter, element) };
      case "present": {
        const target = resolve(f.attr, element);
        return target === undefined ? unknown(f.attr) : { kind: "present", target };
      }
      case "compare": {
        const resolved = resolve(f.attr, element);
        if (resolved === undefined) return unknown(f.attr);
        let target: Target = resolved;
        if (targetDef(resolved).type === "complex") {
          // RFC 7644: `emails co "x"` on a complex attribute means its "value" sub-attribute.
          const value = resolved.scope === "resource" && resolved.sub === undefined ? findSubAttribute(resolved.attribute, "value") : undefined;
          if (resolved.scope !== "resource" || value === undefined) {
            throw new ScimFilterError(`"${attrText(f.attr)}" is complex: compare one of its sub-attributes`);
          }
          target = { ...resolved, sub: value };
        }
        if (f.value === null) {
          // `eq null` asks for absence, `ne null` for presence; nothing else is defined on null.
          if (f.op === "eq") return { kind: "not", plan: { kind: "present", target } };
          if (f.op === "ne") return { kind: "present", target };
          throw new ScimFilterError(`operator "${f.op}" cannot compare with null`);
        }
        return { kind: "compare", target, op: f.op, operand: toOperand(targetDef(target), f.op, f.value, attrText(f.attr)) };
      }
      case "valuePath": {
        if (element !== undefined) throw new ScimFilterError("value filters do not nest");
        const target = resolve(f.attr, undefined);
        if (target === undefined) return unknown(f.attr);
        if (target.scope !== "resource" || target.sub !== undefined || target.attribute.type !== "complex") {
          throw new ScimFilterError(`a value filter needs a complex attribute, "${attrText(f.attr)}" is not one`);
        }
        return { kind: "some", target, plan: plan(f.filter, target.attribute) };
      }
    }
  };

  return plan(filter, undefined);
}

const ORDERING: ReadonlySet<CompareOp> = new Set(["gt", "ge", "lt", "le"]);
const SUBSTRING: ReadonlySet<CompareOp> = new Set(["co", "sw", "ew"]);

function toOperand(def: AttributeDef, op: CompareOp, value: string | number | boolean, name: string): Operand {
  const invalid = (why: string): never => {
    throw new ScimFilterError(`"${name}" ${op} ${JSON.stringify(value)}: ${why}`);
  };
  switch (def.type) {
    case "boolean": {
      if (op !== "eq" && op !== "ne") invalid("booleans support only eq and ne");
      if (typeof value === "boolean") return { type: "boolean", value };
      // Entra writes booleans as strings; accept "True"/"false" the way bodies do.
      if (typeof value === "string" && /^(true|false)$/i.test(value)) return { type: "boolean", value: value.toLowerCase() === "true" };
      return invalid("expected true or false");
    }
    case "integer":
    case "decimal": {
      if (SUBSTRING.has(op)) invalid("numbers support no substring operators");
      if (typeof value !== "number") return invalid("expected a number");
      return { type: "number", value };
    }
    case "dateTime": {
      if (SUBSTRING.has(op)) invalid("dateTimes support no substring operators");
      const micros = typeof value === "string" ? parseDateTime(value) : undefined;
      if (micros === undefined) return invalid("expected a dateTime such as 2015-10-10T14:38:21Z");
      return { type: "instant", micros, iso: formatMicros(micros) };
    }
    case "binary":
      if (ORDERING.has(op)) invalid("binary values cannot be ordered");
      return { type: "string", value: String(value), caseExact: def.caseExact };
    case "string":
    case "reference":
      // A bare number or boolean given for a string attribute (lenient filters) is its text.
      return { type: "string", value: String(value), caseExact: def.caseExact };
    case "complex":
      return invalid("complex attributes cannot be compared");
  }
}

// xsd:dateTime (RFC 7643 section 2.3.5): seconds required, any fraction, optional offset
// (none means UTC). Years 0001 to 9999, which Postgres timestamptz also accepts.
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?$/i;
const MIN_MS = Date.parse("0001-01-01T00:00:00Z");
const MAX_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** Microseconds since the epoch, rounded like Postgres does; undefined when not a dateTime. */
export function parseDateTime(text: string): number | undefined {
  const m = DATE_TIME.exec(text);
  if (m === null) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, s, 0);
  // Date rolls 2015-02-30 over into March; a round trip detects out-of-range fields.
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || date.getUTCHours() !== h || date.getUTCMinutes() !== mi || date.getUTCSeconds() !== s) {
    return undefined;
  }
  const zone = m[8] ?? "Z";
  const offsetMinutes = zone.toUpperCase() === "Z" ? 0 : (zone[0] === "-" ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  const ms = date.getTime() - offsetMinutes * 60_000;
  if (ms < MIN_MS || ms > MAX_MS) return undefined;
  const fraction = m[7] === undefined ? 0 : Math.round(Number(`0${m[7]}`) * 1e6);
  return ms * 1000 + fraction;
}

/** `YYYY-MM-DDTHH:MM:SS.ffffffZ`, an input both Date and Postgres read exactly. */
export function formatMicros(micros: number): string {
  const ms = Math.floor(micros / 1000);
  return new Date(ms).toISOString().replace(/Z$/, `${String(micros - ms * 1000).padStart(3, "0")}Z`);
}

// ---------------------------------------------------------------------------------------
// In-memory evaluation

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Absent: undefined, null, "", [] and {}. */
export function isPresent(v: unknown): boolean {
  if (v === undefined || v === null || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  return !isObject(v) || Object.keys(v).length > 0;
}

/** The elements of a multi-valued attribute; a lone value counts as one element. */
const elements = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

function valuesOf(t: Target, resource: Record<string, unknown>, element: unknown): unknown[] {
  if (t.scope === "element") return isObject(element) ? [element[t.attribute.name]] : [];
  const base = t.extension === undefined ? resource : resource[t.extension];
  if (!isObject(base)) return [];
  const v = base[t.attribute.name];
  const items = t.attribute.multiValued ? elements(v) : [v];
  const sub = t.sub;
  return sub === undefined ? items : items.map((e) => (isObject(e) ? e[sub.name] : undefined));
}

/** Code-point order, as Postgres compares text under COLLATE "C" (UTF-16 order differs above U+FFFF). */
function compareCodePoints(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

function ordered(op: CompareOp, cmp: number): boolean {
  switch (op) {
    case "eq": return cmp === 0;
    case "ne": return cmp !== 0;
    case "gt": return cmp > 0;
    case "ge": return cmp >= 0;
    case "lt": return cmp < 0;
    case "le": return cmp <= 0;
    default: return false; // substring operators are handled by the caller or rejected at plan time
  }
}

function compareValue(v: unknown, op: CompareOp, operand: Operand): boolean {
  switch (operand.type) {
    case "string": {
      if (typeof v !== "string") return false;
      const a = operand.caseExact ? v : v.toLowerCase();
      const b = operand.caseExact ? operand.value : operand.value.toLowerCase();
      if (op === "co") return a.includes(b);
      if (op === "sw") return a.startsWith(b);
      if (op === "ew") return a.endsWith(b);
      if (op === "eq" || op === "ne") return (a === b) === (op === "eq");
      return ordered(op, compareCodePoints(a, b));
    }
    case "boolean":
      return typeof v === "boolean" && ordered(op, v === operand.value ? 0 : 1);
    case "number":
      return typeof v === "number" && ordered(op, v - operand.value);
    case "instant": {
      const micros = typeof v === "string" ? parseDateTime(v) : undefined;
      return micros !== undefined && ordered(op, micros - operand.micros);
    }
  }
}

function evaluate(p: Plan, resource: Record<string, unknown>, element: unknown): boolean {
  switch (p.kind) {
    case "const": return p.value;
    case "and": return evaluate(p.left, resource, element) && evaluate(p.right, resource, element);
    case "or": return evaluate(p.left, resource, element) || evaluate(p.right, resource, element);
    case "not": return !evaluate(p.plan, resource, element);
    case "present": return valuesOf(p.target, resource, element).some(isPresent);
    case "compare": return valuesOf(p.target, resource, element).some((v) => compareValue(v, p.op, p.operand));
    case "some": return valuesOf(p.target, resource, element).some((e) => evaluate(p.plan, resource, e));
  }
}

/** Evaluates a plan against a resource in canonical attribute casing. */
export function evaluatePlan(plan: Plan, resource: Record<string, unknown>): boolean {
  return evaluate(plan, resource, undefined);
}
