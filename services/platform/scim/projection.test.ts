import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseAttributeList } from "./filter.ts";
import type { JsonObject } from "./json.ts";
import { isReturned, project } from "./projection.ts";
import { ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA } from "./schema.ts";

const ENT = ENTERPRISE_USER_SCHEMA;

const USER: JsonObject = {
  schemas: [USER_SCHEMA, ENT],
  id: "u1",
  externalId: "ext-1",
  userName: "bjensen",
  password: "secret",
  name: { givenName: "Barbara", familyName: "Jensen" },
  emails: [
    { value: "bjensen@work.example", type: "work", primary: true },
    { value: "babs@home.example", type: "home" },
  ],
  active: true,
  meta: { resourceType: "User", created: "2024-01-01T00:00:00Z" },
  [ENT]: { department: "R&D", manager: { value: "m1", displayName: "Boss" } },
};

const GROUP: JsonObject = {
  schemas: [GROUP_SCHEMA],
  id: "g1",
  displayName: "Engineering",
  members: [{ value: "u1", display: "Babs", type: "User" }],
  meta: { resourceType: "Group" },
};

// Refs as the HTTP layer gets them: through the attribute-list parser.
const user = (attributes?: string, excludedAttributes?: string) =>
  project("User", USER, {
    ...(attributes === undefined ? {} : { attributes: parseAttributeList(attributes) }),
    ...(excludedAttributes === undefined ? {} : { excludedAttributes: parseAttributeList(excludedAttributes) }),
  });

const { password: _, ...USER_WITHOUT_PASSWORD } = USER;

describe("default set", () => {
  it("returns every attribute but the never-returned password", () => {
    expect(user()).toEqual(USER_WITHOUT_PASSWORD);
  });

  it("never returns password, even when asked", () => {
    expect(user("password")).toEqual({ schemas: USER.schemas, id: "u1" });
  });

  it("leaves out attributes the schema does not know", () => {
    const stored = { ...USER, shoeSize: 44, "urn:okta:custom:1.0:user": { x: 1 }, emails: [{ value: "a@x", label: "mine" }] };
    const r = project("User", stored, {});
    expect(r).not.toHaveProperty("shoeSize");
    expect(r).not.toHaveProperty(["urn:okta:custom:1.0:user"]);
    expect(r.emails).toEqual([{ value: "a@x" }]);
  });
});

describe("attributes", () => {
  it("returns what is named plus the always-returned id and schemas, not meta (RFC 7644 3.9)", () => {
    expect(user("userName")).toEqual({ schemas: USER.schemas, id: "u1", userName: "bjensen" });
  });

  it("selects sub-attributes of complex and multi-valued attributes", () => {
    expect(user("name.givenName,emails.value")).toEqual({
      schemas: USER.schemas,
      id: "u1",
      name: { givenName: "Barbara" },
      emails: [{ value: "bjensen@work.example" }, { value: "babs@home.example" }],
    });
  });

  it("matches names case-insensitively", () => {
    expect(user("USERNAME,Name.GivenName")).toEqual({ schemas: USER.schemas, id: "u1", userName: "bjensen", name: { givenName: "Barbara" } });
  });

  it("takes Entra's value filter in the list as the attribute (Postman: attributes=emails[type eq \"work\"])", () => {
    expect(user('emails[type eq "work"]').emails).toEqual(USER.emails);
  });

  it("selects URN-qualified extension attributes, or a whole extension by its URN", () => {
    expect(user(`${ENT}:department`)).toEqual({ schemas: USER.schemas, id: "u1", [ENT]: { department: "R&D" } });
    expect(user(`${ENT}:manager.value`)[ENT]).toEqual({ manager: { value: "m1" } });
    expect(user(ENT.toLowerCase())[ENT]).toEqual(USER[ENT]);
    expect(user(`${USER_SCHEMA}:userName`)).toEqual({ schemas: USER.schemas, id: "u1", userName: "bjensen" });
  });

  it("ignores unknown names", () => {
    expect(user("userName,shoeSize,name.shoe")).toEqual({ schemas: USER.schemas, id: "u1", userName: "bjensen" });
  });

  it("treats an empty list as no list", () => {
    expect(project("User", USER, { attributes: [] })).toEqual(USER_WITHOUT_PASSWORD);
  });
});

describe("excludedAttributes", () => {
  it("leaves out a group's members (Entra)", () => {
    expect(project("Group", GROUP, { excludedAttributes: parseAttributeList("members") })).toEqual({
      schemas: [GROUP_SCHEMA],
      id: "g1",
      displayName: "Engineering",
      meta: { resourceType: "Group" },
    });
  });

  it("cannot exclude always-returned attributes", () => {
    expect(user("", "id,schemas")).toEqual(USER_WITHOUT_PASSWORD);
  });

  it("excludes sub-attributes, meta and extensions", () => {
    const r = user(undefined, `name.givenName,emails.primary,meta,${ENT}`);
    expect(r.name).toEqual({ familyName: "Jensen" });
    expect(r.emails).toEqual([
      { value: "bjensen@work.example", type: "work" },
      { value: "babs@home.example", type: "home" },
    ]);
    expect(r).not.toHaveProperty("meta");
    expect(r).not.toHaveProperty([ENT]);
  });

  it("drops a complex attribute left empty", () => {
    expect(user(undefined, "name.givenName,name.familyName")).not.toHaveProperty("name");
  });

  it("applies after attributes when both are given", () => {
    expect(user("userName,emails", "emails")).toEqual({ schemas: USER.schemas, id: "u1", userName: "bjensen" });
    expect(user("emails", "emails.type").emails).toEqual([{ value: "bjensen@work.example", primary: true }, { value: "babs@home.example" }]);
  });
});

describe("isReturned", () => {
  it("tells whether a group's members need loading", () => {
    const members = { name: "members" };
    expect(isReturned("Group", members)).toBe(true);
    expect(isReturned("Group", members, { excludedAttributes: parseAttributeList("members") })).toBe(false);
    expect(isReturned("Group", members, { attributes: parseAttributeList("displayName") })).toBe(false);
    expect(isReturned("Group", members, { attributes: parseAttributeList("members.value") })).toBe(true);
    expect(isReturned("Group", { name: "id" }, { attributes: parseAttributeList("displayName") })).toBe(true);
    expect(isReturned("User", { name: "password" })).toBe(false);
  });
});

describe("properties", () => {
  const names = ["id", "schemas", "userName", "password", "name", "name.givenName", "emails", "emails.type", "meta", "active", ENT, `${ENT}:department`, "nope"];
  const list = fc.option(fc.subarray(names).map((a) => a.join(",")), { nil: undefined });

  it("always returns id and schemas, never password, never mutates, and is idempotent", () => {
    const input = structuredClone(USER);
    fc.assert(
      fc.property(list, list, (attributes, excluded) => {
        const r = user(attributes, excluded);
        expect(r.id).toBe("u1");
        expect(r.schemas).toEqual(USER.schemas);
        expect(r).not.toHaveProperty("password");
        expect(USER).toEqual(input);
        const opts = {
          ...(attributes === undefined ? {} : { attributes: parseAttributeList(attributes) }),
          ...(excluded === undefined ? {} : { excludedAttributes: parseAttributeList(excluded) }),
        };
        expect(project("User", r, opts)).toEqual(r);
      }),
    );
  });

  it("returns a copy sharing nothing with the input", () => {
    const r = project("User", USER, {});
    expect(r.emails).not.toBe(USER.emails);
    expect(r[ENT]).not.toBe(USER[ENT]);
  });
});
