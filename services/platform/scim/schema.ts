// SCIM schema definitions as data (RFC 7643 sections 2, 3.1, 4 and 8.7.1), the attribute
// resolver used by the filter, path and PATCH code, the /Schemas representation, and the
// resource normaliser that gives attribute names their canonical casing.

import type { AttrRef } from "./ast.ts";
import { setOwn } from "./json.ts";

export const USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";
export const GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group";
export const ENTERPRISE_USER_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
export const SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema";

export type ResourceType = "User" | "Group";
export type AttributeType = "string" | "boolean" | "decimal" | "integer" | "dateTime" | "reference" | "complex" | "binary";
export type Mutability = "readOnly" | "readWrite" | "immutable" | "writeOnly";
export type Returned = "always" | "never" | "default" | "request";
export type Uniqueness = "none" | "server" | "global";

export interface AttributeDef {
  readonly name: string;
  readonly type: AttributeType;
  readonly multiValued: boolean;
  readonly description?: string;
  readonly required: boolean;
  readonly caseExact: boolean;
  readonly mutability: Mutability;
  readonly returned: Returned;
  readonly uniqueness: Uniqueness;
  readonly subAttributes?: readonly AttributeDef[];
  readonly canonicalValues?: readonly string[];
  readonly referenceTypes?: readonly string[];
}

export interface SchemaDef {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly attributes: readonly AttributeDef[];
}

type AttrOptions = Partial<Omit<AttributeDef, "name" | "type">>;

/** One attribute with the RFC 7643 section 2.2 defaults for every characteristic not given. */
function attr(name: string, type: AttributeType, opts: AttrOptions = {}): AttributeDef {
  return Object.freeze({
    name,
    type,
    multiValued: false,
    required: false,
    caseExact: false,
    mutability: "readWrite",
    returned: "default",
    uniqueness: "none",
    ...opts,
  });
}

const str = (name: string, opts?: AttrOptions) => attr(name, "string", opts);
const complex = (name: string, subAttributes: readonly AttributeDef[], opts?: AttrOptions) =>
  attr(name, "complex", { ...opts, subAttributes });

/** The usual sub-attributes of a multi-valued attribute (RFC 7643 section 2.4). */
function multi(name: string, valueType: AttributeType, types: readonly string[] | undefined, opts?: AttrOptions): AttributeDef {
  return complex(
    name,
    [
      attr("value", valueType, valueType === "reference" ? { referenceTypes: ["external"] } : {}),
      str("display"),
      str("type", types ? { canonicalValues: types } : {}),
      attr("primary", "boolean"),
    ],
    { ...opts, multiValued: true },
  );
}

/**
 * Common attributes (RFC 7643 section 3.1). Resolvable on every resource type, but not part
 * of any schema's /Schemas listing (the RFC's own schema representations leave them out).
 */
const COMMON_ATTRIBUTES: readonly AttributeDef[] = [
  str("id", { caseExact: true, mutability: "readOnly", returned: "always", uniqueness: "server" }),
  str("externalId", { caseExact: true }),
  complex(
    "meta",
    [
      str("resourceType", { caseExact: true, mutability: "readOnly" }),
      attr("created", "dateTime", { mutability: "readOnly" }),
      attr("lastModified", "dateTime", { mutability: "readOnly" }),
      attr("location", "reference", { caseExact: true, mutability: "readOnly", referenceTypes: ["uri"] }),
      str("version", { caseExact: true, mutability: "readOnly" }),
    ],
    { mutability: "readOnly" },
  ),
  attr("schemas", "reference", { multiValued: true, required: true, caseExact: true, returned: "always", referenceTypes: ["uri"] }),
];

const ro: AttrOptions = { mutability: "readOnly" };

export const USER_SCHEMA_DEF: SchemaDef = {
  id: USER_SCHEMA,
  name: "User",
  description: "User Account",
  attributes: [
    str("userName", { required: true, uniqueness: "server" }),
    complex("name", [
      str("formatted"),
      str("familyName"),
      str("givenName"),
      str("middleName"),
      str("honorificPrefix"),
      str("honorificSuffix"),
    ]),
    str("displayName"),
    str("nickName"),
    attr("profileUrl", "reference", { referenceTypes: ["external"] }),
    str("title"),
    str("userType"),
    str("preferredLanguage"),
    str("locale"),
    str("timezone"),
    attr("active", "boolean"),
    str("password", { mutability: "writeOnly", returned: "never" }),
    multi("emails", "string", ["work", "home", "other"]),
    multi("phoneNumbers", "string", ["work", "home", "mobile", "fax", "pager", "other"]),
    multi("ims", "string", ["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]),
    multi("photos", "reference", ["photo", "thumbnail"]),
    complex(
      "addresses",
      [
        str("formatted"),
        str("streetAddress"),
        str("locality"),
        str("region"),
        str("postalCode"),
        str("country"),
        str("type", { canonicalValues: ["work", "home", "other"] }),
        // Not in the section 8.7.1 listing, but section 4.1.2 gives addresses a "primary".
        attr("primary", "boolean"),
      ],
      { multiValued: true },
    ),
    complex(
      "groups",
      [
        str("value", ro),
        // Roster's groups hold users only, so a user's groups are all direct ones.
        attr("$ref", "reference", { ...ro, referenceTypes: ["Group"] }),
        str("display", ro),
        str("type", { ...ro, canonicalValues: ["direct"] }),
      ],
      { multiValued: true, mutability: "readOnly" },
    ),
    multi("entitlements", "string", undefined),
    multi("roles", "string", undefined),
    multi("x509Certificates", "binary", undefined),
  ],
};

export const ENTERPRISE_USER_SCHEMA_DEF: SchemaDef = {
  id: ENTERPRISE_USER_SCHEMA,
  name: "EnterpriseUser",
  description: "Enterprise User",
  attributes: [
    str("employeeNumber"),
    str("costCenter"),
    str("organization"),
    str("division"),
    str("department"),
    complex("manager", [
      str("value"),
      attr("$ref", "reference", { referenceTypes: ["User"] }),
      str("displayName", ro),
    ]),
  ],
};

export const GROUP_SCHEMA_DEF: SchemaDef = {
  id: GROUP_SCHEMA,
  name: "Group",
  description: "Group",
  attributes: [
    // Section 4.2 says REQUIRED; the section 8.7.1 listing's "required": false is a known slip.
    str("displayName", { required: true }),
    complex(
      "members",
      [
        str("value", { mutability: "immutable" }),
        // Members are users: nested groups are not supported.
        attr("$ref", "reference", { mutability: "immutable", referenceTypes: ["User"] }),
        str("display", ro),
        str("type", { mutability: "immutable", canonicalValues: ["User"] }),
      ],
      { multiValued: true },
    ),
  ],
};

const RESOURCE_SCHEMAS: Readonly<Record<ResourceType, { core: SchemaDef; extensions: readonly SchemaDef[] }>> = {
  User: { core: USER_SCHEMA_DEF, extensions: [ENTERPRISE_USER_SCHEMA_DEF] },
  Group: { core: GROUP_SCHEMA_DEF, extensions: [] },
};

/** The core schema and the schema extensions of a resource type. */
export function schemasFor(resourceType: ResourceType): { core: SchemaDef; extensions: readonly SchemaDef[] } {
  return RESOURCE_SCHEMAS[resourceType];
}

const byLowerName = (attrs: readonly AttributeDef[]): ReadonlyMap<string, AttributeDef> =>
  new Map(attrs.map((a) => [a.name.toLowerCase(), a]));

// Lookup tables built once: resource type -> lower-cased schema URN -> lower-cased name -> def.
const LOOKUP: Readonly<Record<ResourceType, ReadonlyMap<string, ReadonlyMap<string, AttributeDef>>>> = {
  User: new Map([
    [USER_SCHEMA.toLowerCase(), byLowerName([...COMMON_ATTRIBUTES, ...USER_SCHEMA_DEF.attributes])],
    [ENTERPRISE_USER_SCHEMA.toLowerCase(), byLowerName(ENTERPRISE_USER_SCHEMA_DEF.attributes)],
  ]),
  Group: new Map([[GROUP_SCHEMA.toLowerCase(), byLowerName([...COMMON_ATTRIBUTES, ...GROUP_SCHEMA_DEF.attributes])]]),
};

const SCHEMA_IDS = new Map(
  [USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE_USER_SCHEMA].map((id) => [id.toLowerCase(), id]),
);

/** The canonical spelling of a schema URN we know, matched case-insensitively. */
export function canonicalSchemaUrn(urn: string): string | undefined {
  return SCHEMA_IDS.get(urn.toLowerCase());
}

export interface ResolvedAttribute {
  /** Canonical URN of the schema defining the attribute (the core schema for common attributes). */
  readonly schema: string;
  /** True when the attribute lives in an extension, i.e. under `resource[schema]`. */
  readonly extension: boolean;
  readonly attribute: AttributeDef;
  /** Set when the reference names a sub-attribute. */
  readonly sub?: AttributeDef;
}

/** A sub-attribute of a complex attribute, matched case-insensitively. */
export function findSubAttribute(parent: AttributeDef, name: string): AttributeDef | undefined {
  const lower = name.toLowerCase();
  return parent.subAttributes?.find((s) => s.name.toLowerCase() === lower);
}

/**
 * Resolves an attribute reference case-insensitively. Unqualified names resolve in the core
 * schema (and the common attributes) only: RFC 7643 section 3.3 has extension attributes
 * addressed by their URN. Returns undefined for anything unknown.
 */
export function findAttribute(resourceType: ResourceType, ref: AttrRef): ResolvedAttribute | undefined {
  const schema = ref.schema === undefined ? schemasFor(resourceType).core.id : canonicalSchemaUrn(ref.schema);
  if (schema === undefined) return undefined;
  const attribute = LOOKUP[resourceType].get(schema.toLowerCase())?.get(ref.name.toLowerCase());
  if (attribute === undefined) return undefined;
  const extension = schema !== schemasFor(resourceType).core.id;
  if (ref.sub === undefined) return { schema, extension, attribute };
  const sub = findSubAttribute(attribute, ref.sub);
  return sub === undefined ? undefined : { schema, extension, attribute, sub };
}

// ---------------------------------------------------------------------------------------
// /Schemas representation (RFC 7643 section 7)

export interface SchemaRepresentation {
  readonly schemas: readonly string[];
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly attributes: readonly unknown[];
  readonly meta: { readonly resourceType: "Schema"; readonly location: string };
}

function renderAttribute(a: AttributeDef): Record<string, unknown> {
  return {
    name: a.name,
    type: a.type,
    multiValued: a.multiValued,
    ...(a.description === undefined ? {} : { description: a.description }),
    required: a.required,
    caseExact: a.caseExact,
    mutability: a.mutability,
    returned: a.returned,
    uniqueness: a.uniqueness,
    ...(a.canonicalValues ? { canonicalValues: a.canonicalValues } : {}),
    ...(a.referenceTypes ? { referenceTypes: a.referenceTypes } : {}),
    ...(a.subAttributes ? { subAttributes: a.subAttributes.map(renderAttribute) } : {}),
  };
}

/**
 * The schema resources served at `/Schemas` and `/Schemas/{id}`. `baseUrl` is the SCIM base
 * (e.g. `https://host/scim/v2`) used for `meta.location`.
 */
export function renderSchemas(baseUrl: string): SchemaRepresentation[] {
  const base = baseUrl.replace(/\/+$/, "");
  return [USER_SCHEMA_DEF, ENTERPRISE_USER_SCHEMA_DEF, GROUP_SCHEMA_DEF].map((s) => ({
    schemas: [SCHEMA_SCHEMA],
    id: s.id,
    name: s.name,
    description: s.description,
    attributes: s.attributes.map(renderAttribute),
    meta: { resourceType: "Schema", location: `${base}/Schemas/${s.id}` },
  }));
}

// ---------------------------------------------------------------------------------------
// Normalisation of incoming resources

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function normalizeValue(def: AttributeDef, value: unknown): unknown {
  if (def.type === "boolean" && typeof value === "string" && /^(true|false)$/i.test(value)) {
    // Entra sends "True"/"False" strings for booleans.
    return value.toLowerCase() === "true";
  }
  if (def.subAttributes === undefined) return value;
  const subs = byLowerName(def.subAttributes);
  const element = (v: unknown) => (isObject(v) ? normalizeObject(subs, v) : v);
  return Array.isArray(value) ? value.map(element) : element(value);
}

function normalizeObject(
  attrs: ReadonlyMap<string, AttributeDef>,
  obj: Record<string, unknown>,
  extensions?: ReadonlyMap<string, ReadonlyMap<string, AttributeDef>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) {
    const lower = key.toLowerCase();
    const ext = extensions?.get(lower);
    if (ext !== undefined && isObject(value)) {
      setOwn(out, canonicalSchemaUrn(key) ?? key, normalizeObject(ext, value));
      continue;
    }
    const def = attrs.get(lower);
    // Unknown attributes are kept as sent: dropping data silently is never our call here.
    if (def === undefined) setOwn(out, key, value);
    else setOwn(out, def.name, normalizeValue(def, value));
  }
  return out;
}

/**
 * Returns a copy of a SCIM resource body with every known attribute name (top level,
 * sub-attributes, and inside extension objects) in its canonical casing, and string booleans
 * ("True", "false"...) of boolean attributes turned into booleans. Unknown attributes and
 * unknown extension data are kept untouched. When two keys differ only in case, the later
 * one wins, as it would in a case-insensitive reading of the JSON.
 */
export function normalizeResource(resourceType: ResourceType, json: Record<string, unknown>): Record<string, unknown> {
  const lookup = LOOKUP[resourceType];
  const core = lookup.get(schemasFor(resourceType).core.id.toLowerCase())!;
  const extensions = new Map([...lookup].filter(([urn]) => urn !== schemasFor(resourceType).core.id.toLowerCase()));
  return normalizeObject(core, json, extensions);
}

// ---------------------------------------------------------------------------------------
// Shapes of incoming resources

/** What is wrong with one value of an attribute (after normalisation), or undefined. */
function singleValueProblem(def: AttributeDef, value: unknown, elementOfMany: boolean): string | undefined {
  switch (def.type) {
    case "complex": {
      // Entra sends a manager as its bare id (docs/scim.md); never an element of a list.
      if (!elementOfMany && typeof value === "string" && findSubAttribute(def, "value") !== undefined) return undefined;
      if (!isObject(value)) return "must be an object of sub-attributes";
      for (const [key, sub] of Object.entries(value)) {
        const subDef = findSubAttribute(def, key);
        const problem = subDef === undefined ? undefined : valueProblem(subDef, sub);
        if (problem) return `.${subDef!.name} ${problem}`;
      }
      return undefined;
    }
    case "boolean":
      return typeof value === "boolean" ? undefined : "must be a boolean";
    case "integer":
      return Number.isInteger(value) ? undefined : "must be an integer";
    case "decimal":
      return typeof value === "number" ? undefined : "must be a number";
    case "string":
    case "reference":
    case "binary":
    case "dateTime":
      return typeof value === "string" ? undefined : "must be a string";
  }
}

function valueProblem(def: AttributeDef, value: unknown): string | undefined {
  // RFC 7643 section 2.5: null is unassigned.
  if (value === null) return undefined;
  if (!def.multiValued) return singleValueProblem(def, value, false);
  if (!Array.isArray(value)) return "must be an array";
  for (const element of value) {
    const problem = element === null ? "must not hold null" : singleValueProblem(def, element, true);
    if (problem) return problem;
  }
  return undefined;
}

/**
 * Whether the attributes this service knows have the shape their definitions give, in a
 * resource normalizeResource returned; a message naming the first that does not, else
 * undefined. Unknown attributes are not judged (they are kept as sent), nor read-only ones
 * or those named in `skip` (dropped before storage). String booleans were coerced already.
 */
export function shapeProblem(resourceType: ResourceType, resource: Record<string, unknown>, skip: ReadonlySet<string>): string | undefined {
  const lookup = LOOKUP[resourceType];
  const coreId = schemasFor(resourceType).core.id;
  const core = lookup.get(coreId.toLowerCase())!;
  const check = (attrs: ReadonlyMap<string, AttributeDef>, obj: Record<string, unknown>, prefix: string): string | undefined => {
    for (const [key, value] of Object.entries(obj)) {
      const def = attrs.get(key.toLowerCase());
      if (def === undefined || def.mutability === "readOnly" || (prefix === "" && skip.has(def.name))) continue;
      const problem = valueProblem(def, value);
      if (problem) return `${prefix}${def.name}${problem.startsWith(".") ? "" : " "}${problem}`;
    }
    return undefined;
  };
  for (const [key, value] of Object.entries(resource)) {
    const urn = canonicalSchemaUrn(key);
    if (urn === undefined || urn === coreId) continue;
    const ext = lookup.get(urn.toLowerCase());
    if (ext === undefined || value === null) continue;
    if (!isObject(value)) return `${urn} must be an object of its attributes`;
    const problem = check(ext, value, `${urn}:`);
    if (problem) return problem;
  }
  return check(core, resource, "");
}
