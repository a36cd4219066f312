// Which attributes a response carries: the `attributes` and `excludedAttributes` parameters
// (RFC 7644 section 3.4.2.5) combined with each attribute's `returned` characteristic
// (RFC 7643 section 2.2):
// - always (id, schemas): returned whatever the parameters say;
// - never (password): never returned;
// - default (meta included, as in the RFC 7644 section 3.9 example): returned unless
//   `attributes` is given without naming it, or `excludedAttributes` names it;
// - request: returned only when `attributes` names it.
// When both parameters are given, `attributes` selects and `excludedAttributes` then removes.

import type { AttrRef } from "./ast.ts";
import type { JsonObject, JsonValue } from "./json.ts";
import { canonicalSchemaUrn, findAttribute, findSubAttribute, schemasFor, type AttributeDef, type ResourceType } from "./schema.ts";

export interface ProjectionOptions {
  readonly attributes?: readonly AttrRef[];
  readonly excludedAttributes?: readonly AttrRef[];
}

/**
 * The resource as a response shows it: a new top-level object, names in canonical case, unknown
 * attributes left out. The input is not modified.
 */
export function project(resourceType: ResourceType, resource: JsonObject, opts: ProjectionOptions = {}): JsonObject {
  const plan = new Plan(resourceType, opts);
  const { core, extensions } = schemasFor(resourceType);
  const extensionData: JsonObject = {};
  for (const ext of extensions) {
    const key = Object.keys(resource).find((k) => canonicalSchemaUrn(k) === ext.id);
    const value = key === undefined ? undefined : resource[key];
    const projected = isObject(value) ? projectAttributes(plan, ext.id, value) : undefined;
    if (projected !== undefined) extensionData[ext.id] = projected;
  }
  // Extension keys are not attributes of the core schema, so they drop out of this one.
  // Nested values are shared with the input, not copied: responses are serialised at once,
  // and copying every resource on the hottest path cost more than the rest of the projection.
  return { ...projectAttributes(plan, core.id, resource), ...extensionData };
}

/**
 * Whether any part of an attribute would be returned: lets a caller skip loading what will
 * not be shown (a large group's members under Entra's `excludedAttributes=members`).
 */
export function isReturned(resourceType: ResourceType, ref: AttrRef, opts: ProjectionOptions = {}): boolean {
  const resolved = findAttribute(resourceType, { ...(ref.schema === undefined ? {} : { schema: ref.schema }), name: ref.name });
  return resolved !== undefined && new Plan(resourceType, opts).decide(resolved.schema, resolved.attribute) !== undefined;
}

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

/** An attribute selected whole, or some of its sub-attributes (canonical names). */
type Part = true | ReadonlySet<string>;

/** The attributes a list of references names, resolved against the schema. Unknown names select nothing. */
class Selection {
  /** Schema URNs named alone (`urn:...:enterprise:2.0:User`): all of their attributes. */
  private readonly schemas = new Set<string>();
  private readonly parts = new Map<string, true | Set<string>>();

  constructor(resourceType: ResourceType, refs: readonly AttrRef[]) {
    for (const ref of refs) {
      // A URN alone parses as schema = its first segments, name = its last one.
      const urn = ref.schema !== undefined && ref.sub === undefined ? canonicalSchemaUrn(`${ref.schema}:${ref.name}`) : undefined;
      if (urn !== undefined) {
        this.schemas.add(urn);
        continue;
      }
      const resolved = findAttribute(resourceType, ref);
      if (resolved === undefined) continue;
      const key = Selection.key(resolved.schema, resolved.attribute.name);
      const existing = this.parts.get(key);
      if (resolved.sub === undefined) this.parts.set(key, true);
      else if (existing === undefined) this.parts.set(key, new Set([resolved.sub.name]));
      else if (existing !== true) existing.add(resolved.sub.name);
    }
  }

  private static key(schema: string, name: string): string {
    return `${schema}\u0000${name}`;
  }

  get(schema: string, name: string): Part | undefined {
    return this.parts.get(Selection.key(schema, name)) ?? (this.schemas.has(schema) ? true : undefined);
  }
}

/** What to return of each attribute, given the two parameters. */
class Plan {
  private readonly attributes: Selection | undefined;
  private readonly excluded: Selection;
  readonly resourceType: ResourceType;

  constructor(resourceType: ResourceType, opts: ProjectionOptions) {
    this.resourceType = resourceType;
    // An empty `attributes` list is no list: the default set is returned.
    this.attributes = opts.attributes !== undefined && opts.attributes.length > 0 ? new Selection(resourceType, opts.attributes) : undefined;
    this.excluded = new Selection(resourceType, opts.excludedAttributes ?? []);
  }

  /** The part of an attribute to return, and the sub-attributes to leave out of it; undefined for none. */
  decide(schema: string, def: AttributeDef): { include: Part; exclude: ReadonlySet<string> } | undefined {
    if (def.returned === "never") return undefined;
    if (def.returned === "always") return { include: true, exclude: new Set() };
    const include = this.attributes !== undefined ? this.attributes.get(schema, def.name) : def.returned === "default" ? true : undefined;
    const excluded = this.excluded.get(schema, def.name);
    if (include === undefined || excluded === true) return undefined;
    return { include, exclude: excluded ?? new Set() };
  }
}

/** The attributes of one schema's object (the resource root, or an extension object). */
function projectAttributes(plan: Plan, schema: string, obj: JsonObject): JsonObject | undefined {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(obj)) {
    const resolved = findAttribute(plan.resourceType, { schema, name: key });
    const decision = resolved === undefined ? undefined : plan.decide(schema, resolved.attribute);
    if (resolved === undefined || decision === undefined) continue;
    const projected = projectValue(resolved.attribute, value, decision.include, decision.exclude);
    if (projected !== undefined) out[resolved.attribute.name] = projected;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

function projectValue(def: AttributeDef, value: JsonValue, include: Part, exclude: ReadonlySet<string>): JsonValue | undefined {
  if (def.type !== "complex") return value;
  const element = (e: JsonValue) => (isObject(e) ? projectSubAttributes(def, e, include, exclude) : e);
  if (!Array.isArray(value)) return element(value);
  const elements = value.map(element).filter((e) => e !== undefined);
  return elements.length === 0 ? undefined : elements;
}

// The same rules one level down: `name.givenName`, `emails.value`.
function projectSubAttributes(def: AttributeDef, obj: JsonObject, include: Part, exclude: ReadonlySet<string>): JsonObject | undefined {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(obj)) {
    const sub = findSubAttribute(def, key);
    if (sub === undefined || sub.returned === "never") continue;
    const named = include === true ? sub.returned !== "request" : include.has(sub.name);
    if (sub.returned === "always" || (named && !exclude.has(sub.name))) out[sub.name] = value;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}
