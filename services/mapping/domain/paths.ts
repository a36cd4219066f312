// SCIM attribute paths as mapping sources: `name.givenName`, `emails[type eq "work"].value`,
// `urn:...:enterprise:2.0:User:manager.value`, or an attribute of a custom extension
// (`urn:acme:params:scim:schemas:extension:custom:2.0:User:costCenter`). A path is compiled
// once, when rules are saved: the core schema and the enterprise extension are checked
// (unknown attributes, complex values and never-stored attributes are refused); custom
// extensions are free-form, so their values are typed when read.
import { InvalidInputError } from "../../core/domain/errors.ts";
import type { Json } from "../../core/domain/resources.ts";
import type { AttrRef, Filter } from "../../platform/scim/ast.ts";
import { evaluatePlan, planFilter, type Plan } from "../../platform/scim/filter-eval.ts";
import { parsePatchPath } from "../../platform/scim/filter.ts";
import { canonicalSchemaUrn, findAttribute, findSubAttribute, type AttributeDef } from "../../platform/scim/schema.ts";

/** The static shape of a source: a known scalar type, a list of strings, or unknown (custom). */
type SourceType = "string" | "bool" | "number" | "stringList" | "any";

export interface CompiledPath {
  readonly text: string;
  readonly type: SourceType;
  /** The values at the path, primary elements first; absent values (null, "") left out. */
  read(resource: Json): unknown[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** An own property by exact name, else the first whose name matches case-insensitively. */
function prop(obj: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(obj, name)) return obj[name];
  const lower = name.toLowerCase();
  for (const key of Object.keys(obj)) if (key.toLowerCase() === lower) return obj[key];
  return undefined;
}

const present = (v: unknown): boolean => v !== undefined && v !== null && v !== "" && !(Array.isArray(v) && v.length === 0);

/** Elements of a multi-valued attribute, primary ones first (stable otherwise). */
function elementsOf(v: unknown): unknown[] {
  const list = Array.isArray(v) ? v : present(v) ? [v] : [];
  return [...list.filter((e) => isObject(e) && e.primary === true), ...list.filter((e) => !(isObject(e) && e.primary === true))];
}

/** A sub-attribute of an element; SCIM's implicit `value` for a bare value (`manager: "id"`). */
function subOf(element: unknown, sub: string): unknown {
  if (isObject(element)) return prop(element, sub);
  return sub.toLowerCase() === "value" ? element : undefined;
}

function scalarType(def: AttributeDef): SourceType {
  switch (def.type) {
    case "boolean":
      return "bool";
    case "integer":
    case "decimal":
      return "number";
    default:
      // string, reference, binary, and dateTime (an RFC 3339 string; to_time makes it a time)
      return "string";
  }
}

const refText = (a: AttrRef) => `${a.schema === undefined ? "" : `${a.schema}:`}${a.name}`;

/** A value filter on elements of a custom extension attribute (no schema to consult). */
function genericMatch(filter: Filter, element: unknown): boolean {
  switch (filter.kind) {
    case "and":
      return genericMatch(filter.left, element) && genericMatch(filter.right, element);
    case "or":
      return genericMatch(filter.left, element) || genericMatch(filter.right, element);
    case "not":
      return !genericMatch(filter.filter, element);
    case "present":
      return present(subOf(element, filter.attr.name));
    case "valuePath":
      return false;
    case "compare": {
      const v = subOf(element, filter.attr.name);
      const want = filter.value;
      if (want === null) return filter.op === "eq" ? !present(v) : filter.op === "ne" ? present(v) : false;
      if (typeof v === "string" && typeof want === "string") {
        const a = v.toLowerCase();
        const b = want.toLowerCase();
        switch (filter.op) {
          case "eq": return a === b;
          case "ne": return a !== b;
          case "co": return a.includes(b);
          case "sw": return a.startsWith(b);
          case "ew": return a.endsWith(b);
          case "gt": return a > b;
          case "ge": return a >= b;
          case "lt": return a < b;
          case "le": return a <= b;
        }
      }
      // Booleans and numbers; "true"/"false" strings stand for booleans, as Entra sends them.
      const norm = (x: unknown) => (typeof x === "string" && /^(true|false)$/i.test(x) ? x.toLowerCase() === "true" : x);
      if (filter.op === "eq") return norm(v) === norm(want);
      if (filter.op === "ne") return present(v) && norm(v) !== norm(want);
      if (typeof v === "number" && typeof want === "number") {
        return filter.op === "gt" ? v > want : filter.op === "ge" ? v >= want : filter.op === "lt" ? v < want : filter.op === "le" ? v <= want : false;
      }
      return false;
    }
  }
}

/** Compiles a source path; throws InvalidInputError("invalidPath") saying what is wrong. */
export function compilePath(text: string): CompiledPath {
  const path = parsePatchPath(text);
  const { attr } = path;
  const bad = (why: string): never => {
    throw new InvalidInputError("invalidPath", `source_path ${JSON.stringify(text)}: ${why}`);
  };
  const sub = path.subAfterFilter ?? attr.sub;
  const custom = attr.schema !== undefined && canonicalSchemaUrn(attr.schema) === undefined;

  if (custom) {
    // A custom extension: resource[urn][name], any JSON, typed when read.
    const urn = attr.schema!;
    const filter = path.filter;
    return {
      text,
      type: "any",
      read(resource) {
        const ext = prop(resource, urn);
        if (!isObject(ext)) return [];
        let value = prop(ext, attr.name);
        if (filter !== undefined) value = elementsOf(value).filter((e) => genericMatch(filter, e));
        if (sub !== undefined) {
          const values = (Array.isArray(value) ? elementsOf(value) : [value]).map((e) => subOf(e, sub));
          return values.flatMap((v) => (Array.isArray(v) ? v : [v])).filter(present);
        }
        if (Array.isArray(value)) return [value.filter(present)];
        return present(value) ? [value] : [];
      },
    };
  }

  const resolved = findAttribute("User", { ...(attr.schema === undefined ? {} : { schema: attr.schema }), name: attr.name });
  if (resolved === undefined) {
    return attr.schema === undefined
      ? bad(`no attribute "${attr.name}" in the core User schema; address custom attributes by their extension URN (urn:...:${attr.name})`)
      : bad(`no attribute "${attr.name}" in ${attr.schema}`);
  }
  const def = resolved.attribute;
  if (def.returned === "never") bad(`"${def.name}" is never stored`);
  if (def.name === "groups") bad("User.groups is read-only here: map groups to roles with role rules");
  if (def.name === "meta" || def.name === "id" || def.name === "schemas") bad(`"${def.name}" is set by the server, not by the IdP`);
  let subDef: AttributeDef | undefined;
  if (sub !== undefined) {
    subDef = findSubAttribute(def, sub);
    if (subDef === undefined) bad(`"${def.name}" has no sub-attribute "${sub}"`);
  }
  let plan: Plan | undefined;
  if (path.filter !== undefined) {
    if (!def.multiValued) bad(`a value filter needs a multi-valued attribute, "${def.name}" is not one`);
    try {
      plan = planFilter({ kind: "valuePath", attr: { ...(attr.schema === undefined ? {} : { schema: attr.schema }), name: attr.name }, filter: path.filter }, "User", { strict: true });
    } catch (error) {
      bad(error instanceof Error ? error.message : String(error));
    }
  }
  const leaf = subDef ?? def;
  if (leaf.type === "complex") {
    const hint = findSubAttribute(def, "value") ? `${text}.value` : `${refText(attr)}.<sub-attribute>`;
    bad(`"${def.name}" is complex: name one of its sub-attributes, e.g. ${hint}`);
  }
  const type: SourceType = def.multiValued ? "stringList" : scalarType(leaf);
  const extension = resolved.extension ? resolved.schema : undefined;
  const name = def.name;
  const subName = subDef?.name;
  const multi = def.multiValued;
  const wrap = (e: unknown): Json => (extension === undefined ? { [name]: [e] } : { [extension]: { [name]: [e] } });
  return {
    text,
    type,
    read(resource) {
      const container = extension === undefined ? resource : prop(resource, extension);
      if (!isObject(container)) return [];
      const value = prop(container, name);
      if (!multi) {
        const v = subName === undefined ? value : subOf(value, subName);
        return present(v) ? [v] : [];
      }
      let elements = elementsOf(value);
      if (plan !== undefined) elements = elements.filter((e) => evaluatePlan(plan, wrap(e)));
      const values = subName === undefined ? elements : elements.map((e) => subOf(e, subName));
      return values.filter((v) => present(v) && !isObject(v));
    },
  };
}
