import { describe, expect, it } from "vitest";
import {
  ENTERPRISE_USER_SCHEMA,
  GROUP_SCHEMA,
  SCHEMA_SCHEMA,
  USER_SCHEMA,
  findAttribute,
  normalizeResource,
  renderSchemas,
  type AttributeDef,
} from "./schema.ts";

describe("findAttribute", () => {
  it("resolves names case-insensitively, with or without the core URN", () => {
    expect(findAttribute("User", { name: "USERNAME" })).toMatchObject({ schema: USER_SCHEMA, extension: false, attribute: { name: "userName", uniqueness: "server" } });
    expect(findAttribute("User", { schema: USER_SCHEMA.toLowerCase(), name: "name", sub: "GIVENNAME" })).toMatchObject({
      attribute: { name: "name" },
      sub: { name: "givenName" },
    });
    expect(findAttribute("User", { name: "meta", sub: "created" })?.sub?.type).toBe("dateTime");
    expect(findAttribute("Group", { name: "members", sub: "$REF" })?.sub?.name).toBe("$ref");
  });

  it("resolves enterprise-qualified names into the extension, and only those", () => {
    expect(findAttribute("User", { schema: ENTERPRISE_USER_SCHEMA.toLowerCase(), name: "manager", sub: "value" })).toMatchObject({
      schema: ENTERPRISE_USER_SCHEMA,
      extension: true,
      attribute: { name: "manager" },
      sub: { name: "value" },
    });
    expect(findAttribute("User", { name: "department" })).toBeUndefined();
    expect(findAttribute("Group", { schema: ENTERPRISE_USER_SCHEMA, name: "department" })).toBeUndefined();
    expect(findAttribute("User", { schema: "urn:example:unknown", name: "userName" })).toBeUndefined();
    expect(findAttribute("User", { name: "name", sub: "nope" })).toBeUndefined();
    expect(findAttribute("Group", { name: "userName" })).toBeUndefined();
  });
});

describe("schema definitions", () => {
  const user = (name: string) => findAttribute("User", { name })!.attribute;

  it("carries the RFC 7643 characteristics", () => {
    expect(user("password")).toMatchObject({ mutability: "writeOnly", returned: "never" });
    expect(user("groups")).toMatchObject({ mutability: "readOnly", multiValued: true });
    expect(user("id")).toMatchObject({ caseExact: true, mutability: "readOnly", returned: "always" });
    expect(user("emails").subAttributes?.find((s) => s.name === "type")?.canonicalValues).toEqual(["work", "home", "other"]);
    expect(user("x509Certificates").subAttributes?.[0]?.type).toBe("binary");
    expect(findAttribute("Group", { name: "displayName" })?.attribute.required).toBe(true);
  });

  it("renders /Schemas in the RFC 7643 section 7 form", () => {
    const schemas = renderSchemas("https://h/scim/v2/");
    expect(schemas.map((s) => s.id)).toEqual([USER_SCHEMA, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA]);
    const core = schemas[0]!;
    expect(core).toMatchObject({ schemas: [SCHEMA_SCHEMA], name: "User", meta: { resourceType: "Schema", location: `https://h/scim/v2/Schemas/${USER_SCHEMA}` } });
    const emails = core.attributes.find((a) => (a as AttributeDef).name === "emails") as Record<string, unknown>;
    expect(emails).toMatchObject({ type: "complex", multiValued: true, required: false, caseExact: false, mutability: "readWrite", returned: "default", uniqueness: "none" });
    expect((emails["subAttributes"] as unknown[]).length).toBe(4);
    // Common attributes are not part of a schema's listing.
    expect(core.attributes.some((a) => (a as AttributeDef).name === "id")).toBe(false);
    expect(JSON.parse(JSON.stringify(schemas))).toEqual(schemas);
  });
});

describe("normalizeResource", () => {
  it("gives known names their canonical casing at every level and keeps the rest", () => {
    const input = {
      SCHEMAS: [USER_SCHEMA],
      UserName: "bjensen",
      NAME: { GivenName: "Barbara", nickname: "not a name sub-attribute" },
      Emails: [{ VALUE: "a@x", Type: "work", PRIMARY: "True" }, "stray"],
      "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER": { Department: "Tour", Manager: { Value: "m1", Extra: 1 } },
      "urn:example:custom:1.0:User": { Department: "kept as sent" },
      CustomThing: { A: 1 },
    };
    expect(normalizeResource("User", input)).toEqual({
      schemas: [USER_SCHEMA],
      userName: "bjensen",
      name: { givenName: "Barbara", nickname: "not a name sub-attribute" },
      emails: [{ value: "a@x", type: "work", primary: true }, "stray"],
      [ENTERPRISE_USER_SCHEMA]: { department: "Tour", manager: { value: "m1", Extra: 1 } },
      "urn:example:custom:1.0:User": { Department: "kept as sent" },
      CustomThing: { A: 1 },
    });
    expect(input.UserName).toBe("bjensen"); // the input is not modified
  });

  it("turns string booleans of boolean attributes into booleans, in any case", () => {
    expect(normalizeResource("User", { active: "False" })).toEqual({ active: false });
    expect(normalizeResource("User", { Active: "TRUE" })).toEqual({ active: true });
    expect(normalizeResource("User", { active: "yes" })).toEqual({ active: "yes" });
    expect(normalizeResource("User", { title: "True" })).toEqual({ title: "True" });
  });

  it("normalises group members", () => {
    expect(normalizeResource("Group", { DisplayName: "G", Members: [{ Value: "u1", $REF: "x", TYPE: "User" }] })).toEqual({
      displayName: "G",
      members: [{ value: "u1", $ref: "x", type: "User" }],
    });
  });

  it("keeps a __proto__ key as data instead of setting the prototype", () => {
    const out = normalizeResource("User", JSON.parse('{"__proto__": {"polluted": true}, "userName": "x"}') as Record<string, unknown>);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(["__proto__", "userName"]);
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
  });
});
