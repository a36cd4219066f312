import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidInputError, MutabilityError } from "../errors.ts";
import { applyPatch, ScimPatchError, ScimPatchMutabilityError, type MemberChanges, type PatchResult } from "./patch.ts";
import type { JsonObject } from "../../../platform/scim/json.ts";
import { MAX_PATCH_OPERATIONS, PATCH_OP_SCHEMA } from "../../../platform/scim/patch-request.ts";
import { ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA } from "../../../platform/scim/schema.ts";

const ENT = ENTERPRISE_USER_SCHEMA;

const body = (...ops: unknown[]) => ({ schemas: [PATCH_OP_SCHEMA], Operations: ops });

function deepFreeze<T>(v: T): T {
  if (typeof v === "object" && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

// Inputs are frozen: a write to the caller's object anywhere in the engine throws.
const USER: JsonObject = {
    schemas: [USER_SCHEMA],
    id: "u1",
    userName: "bjensen",
    name: { givenName: "Barbara", familyName: "Jensen" },
    emails: [
      { value: "bjensen@work.example", type: "work", primary: true },
      { value: "babs@home.example", type: "home" },
    ],
    active: true,
    meta: { resourceType: "User", created: "2024-01-01T00:00:00Z", lastModified: "2024-01-01T00:00:00Z", version: 'W/"1"' },
};
const user = (): JsonObject => deepFreeze(structuredClone(USER));

const group = (): JsonObject =>
  deepFreeze({ schemas: [GROUP_SCHEMA], id: "g1", displayName: "Engineering", meta: { resourceType: "Group" } });

const patchUser = (ops: unknown[], lenient = true, resource = user()): PatchResult => applyPatch("User", resource, body(...ops), { lenient });
const patchGroup = (ops: unknown[], lenient = true): PatchResult => applyPatch("Group", group(), body(...ops), { lenient });

function errorOf(fn: () => unknown): ScimPatchError | ScimPatchMutabilityError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ScimPatchError || e instanceof ScimPatchMutabilityError) return e;
    throw e;
  }
  throw new Error("expected a SCIM PATCH error");
}

const scimTypeOf = (fn: () => unknown) => errorOf(fn).scimType;

describe("request body", () => {
  it("accepts Entra's capitalised op names, case-insensitive member names and extra keys", () => {
    const r = applyPatch(
      "User",
      user(),
      { id: "u1", SCHEMAS: [PATCH_OP_SCHEMA], operations: [{ Op: "Replace", Path: "userName", Value: "ryan3", name: "rename" }] },
      { lenient: false },
    );
    expect(r.resource.userName).toBe("ryan3");
    expect(r.changed).toBe(true);
  });

  it.each([
    ["not an object", [], "invalidSyntax"],
    ["no PatchOp schema", { schemas: [USER_SCHEMA], Operations: [] }, "invalidSyntax"],
    ["Operations not an array", { schemas: [PATCH_OP_SCHEMA], Operations: {} }, "invalidSyntax"],
    ["an operation not an object", body("replace"), "invalidSyntax"],
    ["an unknown op", body({ op: "move", path: "userName", value: "x" }), "invalidSyntax"],
    ["a path that is not a string", body({ op: "remove", path: 3 }), "invalidSyntax"],
    ["add without value", body({ op: "add", path: "title" }), "invalidValue"],
    ["replace without value", body({ op: "replace" }), "invalidValue"],
    ["empty Operations (strict)", body(), "invalidSyntax"],
  ])("rejects %s", (_, raw, scimType) => {
    expect(scimTypeOf(() => applyPatch("User", user(), raw, { lenient: false }))).toBe(scimType);
  });

  it("accepts empty Operations when lenient, changing nothing", () => {
    expect(patchUser([]).changed).toBe(false);
  });

  it("bounds the number of operations", () => {
    const ops = Array.from({ length: MAX_PATCH_OPERATIONS + 1 }, () => ({ op: "replace", path: "title", value: "x" }));
    expect(scimTypeOf(() => patchUser(ops))).toBe("tooMany");
    expect(patchUser(ops.slice(1)).resource.title).toBe("x");
  });

  it("validates every operation before applying any", () => {
    // The second one is malformed: the first must not have been applied (nor the input touched).
    expect(scimTypeOf(() => patchUser([{ op: "replace", path: "title", value: "x" }, { op: "nope" }]))).toBe("invalidSyntax");
  });
});

describe("add", () => {
  it("sets an absent single-valued attribute, replaces a present one", () => {
    expect(patchUser([{ op: "add", path: "title", value: "Boss" }]).resource.title).toBe("Boss");
    expect(patchUser([{ op: "add", path: "userName", value: "babs" }]).resource.userName).toBe("babs");
  });

  it("sets a sub-attribute of a complex attribute", () => {
    const r = patchUser([{ op: "add", path: "name.middleName", value: "Jane" }]);
    expect(r.resource.name).toEqual({ givenName: "Barbara", familyName: "Jensen", middleName: "Jane" });
  });

  it("merges into a complex attribute", () => {
    const r = patchUser([{ op: "add", path: "name", value: { givenName: "Babs", honorificPrefix: "Ms." } }]);
    expect(r.resource.name).toEqual({ givenName: "Babs", familyName: "Jensen", honorificPrefix: "Ms." });
  });

  it("appends to a multi-valued attribute, one value or an array", () => {
    const one = patchUser([{ op: "add", path: "emails", value: { value: "b@other.example", type: "other" } }]);
    expect(one.resource.emails).toHaveLength(3);
    const many = patchUser([{ op: "add", path: "phoneNumbers", value: [{ value: "555-1", type: "work" }, { value: "555-2", type: "mobile" }] }]);
    expect(many.resource.phoneNumbers).toEqual([
      { value: "555-1", type: "work" },
      { value: "555-2", type: "mobile" },
    ]);
  });

  it("does not duplicate a value already there (RFC 7644 3.5.2.1), so nothing changes", () => {
    const r = patchUser([{ op: "add", path: "emails", value: [{ value: "babs@home.example", type: "home" }, { value: "babs@home.example", type: "home" }] }]);
    expect(r.changed).toBe(false);
    expect(r.resource).toEqual(user());
  });

  it("adds through a value filter, creating the element the filter describes (Entra)", () => {
    const r = patchUser([{ op: "Add", path: 'phoneNumbers[type eq "mobile"].value', value: "555-0100" }], false);
    expect(r.resource.phoneNumbers).toEqual([{ type: "mobile", value: "555-0100" }]);
    const again = patchUser([{ op: "Add", path: 'phoneNumbers[type eq "mobile"].value', value: "555-0199" }], false, r.resource);
    expect(again.resource.phoneNumbers).toEqual([{ type: "mobile", value: "555-0199" }]);
  });

  it("answers noTarget for an add through a filter that matches nothing and describes no element", () => {
    expect(scimTypeOf(() => patchUser([{ op: "add", path: 'emails[value co "zzz"].type', value: "work" }], false))).toBe("noTarget");
  });

  it("ignores null and [] (unassigned: nothing to add)", () => {
    expect(patchUser([{ op: "add", path: "title", value: null }]).changed).toBe(false);
    expect(patchUser([{ op: "add", path: "emails", value: [] }]).changed).toBe(false);
  });
});

describe("replace", () => {
  it("replaces a single-valued attribute (Postman: patch user1)", () => {
    const r = patchUser([{ op: "replace", path: "userName", value: "ryan3" }], false);
    expect(r.resource.userName).toBe("ryan3");
  });

  it("replaces a whole multi-valued attribute without filter", () => {
    const r = patchUser([{ op: "replace", path: "emails", value: [{ value: "new@example.com", type: "work" }] }]);
    expect(r.resource.emails).toEqual([{ value: "new@example.com", type: "work" }]);
  });

  it("replaces the sub-attribute of the elements a filter matches (Entra emails[type eq \"work\"].value)", () => {
    const r = patchUser([{ op: "Replace", path: 'emails[type eq "work"].value', value: "new@work.example" }], false);
    expect(r.resource.emails).toEqual([
      { value: "new@work.example", type: "work", primary: true },
      { value: "babs@home.example", type: "home" },
    ]);
  });

  it("merges a value into the elements a filter matches", () => {
    const r = patchUser([{ op: "replace", path: 'emails[type eq "home"]', value: { value: "b@home2.example" } }]);
    expect(r.resource.emails).toEqual([
      { value: "bjensen@work.example", type: "work", primary: true },
      { value: "b@home2.example", type: "home" },
    ]);
  });

  it("answers noTarget when a filter matches nothing (strict, RFC 7644 3.5.2.3)", () => {
    expect(scimTypeOf(() => patchUser([{ op: "replace", path: 'addresses[type eq "work"].streetAddress', value: "1 Main St" }], false))).toBe("noTarget");
  });

  it("creates the element when lenient (Entra replaces addresses[type eq \"work\"].streetAddress on users without one)", () => {
    const r = patchUser([{ op: "Replace", path: 'addresses[type eq "work"].streetAddress', value: "1 Main St" }]);
    expect(r.resource.addresses).toEqual([{ type: "work", streetAddress: "1 Main St" }]);
  });

  it("treats a missing target as an add", () => {
    expect(patchUser([{ op: "replace", path: "name.middleName", value: "J" }]).resource.name).toMatchObject({ middleName: "J" });
    expect(patchUser([{ op: "replace", path: "nickName", value: "Babs" }]).resource.nickName).toBe("Babs");
  });

  it("leaves a complex attribute unchanged when the value names no sub-attribute", () => {
    expect(patchUser([{ op: "replace", path: "name", value: {} }]).changed).toBe(false);
  });

  it("unassigns a filtered sub-attribute on null, dropping elements left empty", () => {
    const stored: JsonObject = deepFreeze({ ...user(), emails: [{ value: "a@x" }, { value: "b@x", type: "work", primary: true }] as JsonObject[] });
    const r = patchUser([{ op: "replace", path: 'emails[value eq "a@x"].value', value: null }], false, stored);
    expect(r.resource.emails).toEqual([{ value: "b@x", type: "work", primary: true }]);
  });

  it("unassigns on null", () => {
    const r = patchUser([{ op: "replace", path: "name.familyName", value: null }]);
    expect(r.resource.name).toEqual({ givenName: "Barbara" });
  });

  it("reports no change when the value is the same", () => {
    const r = patchUser([{ op: "replace", path: "userName", value: "bjensen" }]);
    expect(r.changed).toBe(false);
  });
});

describe("remove", () => {
  it("removes a single-valued attribute and a sub-attribute", () => {
    const r = patchUser([{ op: "remove", path: "active" }, { op: "remove", path: "name.givenName" }]);
    expect(r.resource.active).toBeUndefined();
    expect(r.resource.name).toEqual({ familyName: "Jensen" });
  });

  it("drops a complex attribute left without sub-attributes", () => {
    const r = patchUser([{ op: "remove", path: "name.givenName" }, { op: "remove", path: "name.familyName" }]);
    expect("name" in r.resource).toBe(false);
  });

  it("removes a whole multi-valued attribute", () => {
    expect("emails" in patchUser([{ op: "remove", path: "emails" }]).resource).toBe(false);
  });

  it("removes the elements a filter matches", () => {
    const r = patchUser([{ op: "remove", path: 'emails[type eq "home"]' }]);
    expect(r.resource.emails).toEqual([{ value: "bjensen@work.example", type: "work", primary: true }]);
  });

  it("removes a sub-attribute of the elements a filter matches", () => {
    const r = patchUser([{ op: "remove", path: 'emails[type eq "work"].primary' }]);
    expect(r.resource.emails).toEqual([
      { value: "bjensen@work.example", type: "work" },
      { value: "babs@home.example", type: "home" },
    ]);
  });

  it("removes by value (Entra sends what to remove in the value)", () => {
    const r = patchUser([{ op: "remove", path: "emails", value: [{ value: "babs@home.example" }] }]);
    expect(r.resource.emails).toEqual([{ value: "bjensen@work.example", type: "work", primary: true }]);
  });

  it("is harmless for an absent attribute or a filter matching nothing (retried removals)", () => {
    const r = patchUser([
      { op: "remove", path: "title" },
      { op: "remove", path: 'emails[type eq "other"]' },
      { op: "remove", path: 'addresses[type eq "work"]' },
    ], false);
    expect(r.changed).toBe(false);
  });

  it("answers noTarget without a path (RFC 7644 3.5.2.2)", () => {
    expect(scimTypeOf(() => patchUser([{ op: "remove" }]))).toBe("noTarget");
  });
});

describe("path-less add and replace", () => {
  it("deactivates (Okta: replace {active: false})", () => {
    const r = patchUser([{ op: "replace", value: { active: false } }], false);
    expect(r.resource.active).toBe(false);
  });

  it("takes Entra's dotted and URN-qualified keys as paths", () => {
    const r = patchUser([
      { op: "Replace", value: { "name.givenName": "Babs", [`${ENT}:department`]: "R&D", [`${USER_SCHEMA}:displayName`]: "Babs J" } },
    ]);
    expect(r.resource.name).toEqual({ givenName: "Babs", familyName: "Jensen" });
    expect(r.resource.displayName).toBe("Babs J");
    expect(r.resource[ENT]).toEqual({ department: "R&D" });
    expect(r.resource.schemas).toEqual([USER_SCHEMA, ENT]);
  });

  it("applies an extension object given under its URN, merging it", () => {
    const first = patchUser([{ op: "add", value: { [ENT]: { department: "R&D", costCenter: "42" } } }]);
    const r = patchUser([{ op: "replace", value: { [ENT.toUpperCase()]: { Department: "Sales" } } }], true, first.resource);
    expect(r.resource[ENT]).toEqual({ department: "Sales", costCenter: "42" });
  });

  it("appends multi-valued attributes on add, replaces them on replace", () => {
    const email = { value: "x@example.com", type: "other" };
    expect(patchUser([{ op: "add", value: { emails: [email] } }]).resource.emails).toHaveLength(3);
    expect(patchUser([{ op: "replace", value: { emails: [email] } }]).resource.emails).toEqual([email]);
  });

  it("requires an object value", () => {
    expect(scimTypeOf(() => patchUser([{ op: "replace", value: "x" }]))).toBe("invalidValue");
    expect(scimTypeOf(() => patchUser([{ op: "replace", value: [{ active: false }] }]))).toBe("invalidValue");
  });
});

describe("extension attributes", () => {
  it("adds the extension URN to schemas and removes it with the last attribute", () => {
    const added = patchUser([{ op: "add", path: `${ENT}:employeeNumber`, value: "701984" }], false);
    expect(added.resource[ENT]).toEqual({ employeeNumber: "701984" });
    expect(added.resource.schemas).toEqual([USER_SCHEMA, ENT]);
    const removed = patchUser([{ op: "remove", path: `${ENT}:employeeNumber` }], false, added.resource);
    expect(ENT in removed.resource).toBe(false);
    expect(removed.resource.schemas).toEqual([USER_SCHEMA]);
  });

  it("removes the whole extension when the path is its URN", () => {
    const added = patchUser([{ op: "add", path: ENT, value: { department: "R&D", division: "X" } }], false);
    const removed = patchUser([{ op: "remove", path: ENT }], false, added.resource);
    expect(removed.resource).toEqual(user());
  });

  it("accepts a manager given as its bare id when lenient (Entra), not when strict", () => {
    const r = patchUser([{ op: "Add", path: `${ENT}:manager`, value: "boss-id" }]);
    expect(r.resource[ENT]).toEqual({ manager: { value: "boss-id" } });
    expect(scimTypeOf(() => patchUser([{ op: "add", path: `${ENT}:manager`, value: "boss-id" }], false))).toBe("invalidValue");
  });

  it("edits a manager's value; its read-only displayName is ignored in values, refused in paths", () => {
    const first = patchUser([{ op: "add", path: `${ENT}:manager`, value: { value: "m1", displayName: "ignored" } }], false);
    expect(first.resource[ENT]).toEqual({ manager: { value: "m1" } });
    expect(scimTypeOf(() => patchUser([{ op: "add", path: `${ENT}:manager.displayName`, value: "x" }], false, first.resource))).toBe("mutability");
  });

  it("removes a manager even when the server filled in its displayName", () => {
    const stored = deepFreeze({ ...user(), schemas: [USER_SCHEMA, ENT], [ENT]: { manager: { value: "m1", displayName: "Boss" } } });
    const r = patchUser([{ op: "remove", path: `${ENT}:manager` }], false, stored);
    expect(r.resource).toEqual(user());
  });
});

describe("primary", () => {
  it("clears the other primary when a new primary value is added", () => {
    const r = patchUser([{ op: "add", path: "emails", value: { value: "new@example.com", type: "other", primary: true } }]);
    expect(r.resource.emails).toEqual([
      { value: "bjensen@work.example", type: "work", primary: false },
      { value: "babs@home.example", type: "home" },
      { value: "new@example.com", type: "other", primary: true },
    ]);
  });

  it("moves primary through a filtered path", () => {
    const r = patchUser([{ op: "replace", path: 'emails[type eq "home"].primary', value: true }]);
    expect(r.resource.emails).toEqual([
      { value: "bjensen@work.example", type: "work", primary: false },
      { value: "babs@home.example", type: "home", primary: true },
    ]);
  });

  it("refuses two primary values", () => {
    const two = [
      { value: "a@example.com", primary: true },
      { value: "b@example.com", primary: true },
    ];
    expect(scimTypeOf(() => patchUser([{ op: "replace", path: "emails", value: two }]))).toBe("invalidValue");
    expect(scimTypeOf(() => patchUser([{ op: "replace", path: "emails.primary", value: true }]))).toBe("invalidValue");
  });
});

describe("values", () => {
  it("coerces Entra's string booleans when lenient only", () => {
    expect(patchUser([{ op: "Replace", path: "active", value: "False" }]).resource.active).toBe(false);
    expect(patchUser([{ op: "replace", value: { active: "True" } }]).resource.active).toBe(true);
    expect(scimTypeOf(() => patchUser([{ op: "replace", path: "active", value: "False" }], false))).toBe("invalidValue");
  });

  it("writes attribute and sub-attribute names in canonical case", () => {
    const r = patchUser([
      { op: "replace", path: "USERNAME", value: "b" },
      { op: "add", path: "PhoneNumbers", value: [{ VALUE: "555", Type: "work" }] },
      { op: "replace", path: 'EMAILS[TYPE eq "work"].VALUE', value: "w@example.com" },
    ], false);
    expect(r.resource.userName).toBe("b");
    expect(r.resource.phoneNumbers).toEqual([{ value: "555", type: "work" }]);
    expect(r.resource.emails).toContainEqual({ value: "w@example.com", type: "work", primary: true });
    expect(Object.keys(r.resource)).not.toContain("USERNAME");
  });

  it("rejects values of the wrong type", () => {
    expect(scimTypeOf(() => patchUser([{ op: "replace", path: "userName", value: 5 }]))).toBe("invalidValue");
    expect(scimTypeOf(() => patchUser([{ op: "replace", path: "name", value: "Barbara" }]))).toBe("invalidValue");
    expect(scimTypeOf(() => patchUser([{ op: "add", path: "emails", value: [{ value: true }] }]))).toBe("invalidValue");
  });

  it("refuses unknown sub-attributes when strict, ignores them when lenient", () => {
    const value = [{ value: "x@example.com", label: "mine" }];
    expect(scimTypeOf(() => patchUser([{ op: "add", path: "emails", value }], false))).toBe("invalidValue");
    expect(patchUser([{ op: "add", path: "emails", value }]).resource.emails).toContainEqual({ value: "x@example.com" });
  });
});

describe("paths", () => {
  it("refuses unknown attributes when strict, ignores them when lenient (custom IdP extensions)", () => {
    const op = { op: "replace", path: "urn:okta:custom:1.0:user:shoeSize", value: "44" };
    expect(scimTypeOf(() => patchUser([op], false))).toBe("invalidPath");
    expect(patchUser([op]).changed).toBe(false);
    expect(scimTypeOf(() => patchUser([{ op: "replace", path: "name.nickname", value: "x" }], false))).toBe("invalidPath");
    expect(scimTypeOf(() => patchUser([{ op: "replace", path: 'emails[type eq "work"].label', value: "x" }], false))).toBe("invalidPath");
  });

  it("refuses malformed paths with invalidPath", () => {
    expect(scimTypeOf(() => patchUser([{ op: "replace", path: "emails[type eq", value: "x" }]))).toBe("invalidPath");
    expect(scimTypeOf(() => patchUser([{ op: "replace", path: "a.b.c", value: "x" }]))).toBe("invalidPath");
  });

  it("refuses a value filter on a single-valued attribute", () => {
    expect(scimTypeOf(() => patchUser([{ op: "replace", path: 'name[givenName eq "x"].familyName', value: "x" }]))).toBe("invalidPath");
  });

  it("refuses filters on unknown sub-attributes when strict", () => {
    expect(scimTypeOf(() => patchUser([{ op: "remove", path: 'emails[label eq "x"]' }], false))).toBe("invalidFilter");
  });

  it("names the failing operation", () => {
    expect(errorOf(() => patchUser([{ op: "replace", path: "title", value: "x" }, { op: "replace", path: "userName", value: 1 }])).message).toMatch(
      /^Operations\[1\] \(replace userName\)/,
    );
  });
});

describe("mutability", () => {
  it.each([
    ["changing id", { op: "replace", path: "id", value: "other" }],
    ["removing id", { op: "remove", path: "id" }],
    ["changing meta", { op: "replace", path: "meta.version", value: 'W/"9"' }],
    ["adding groups (read-only on User)", { op: "add", path: "groups", value: [{ value: "g1" }] }],
    ["removing userName (required)", { op: "remove", path: "userName" }],
    ["unassigning userName", { op: "replace", path: "userName", value: null }],
    ["a path-less replace changing id", { op: "replace", value: { id: "other" } }],
    ["removing schemas", { op: "remove", path: "schemas" }],
  ])("refuses %s", (_, op) => {
    const e = errorOf(() => patchUser([op]));
    expect(e.scimType).toBe("mutability");
    expect(e).toBeInstanceOf(MutabilityError);
  });

  it.each([
    ["groups with an empty value", { op: "remove", path: "groups", value: "" }],
    ["groups with a value matching none", { op: "remove", path: "groups", value: [{ value: "nope" }] }],
    ["a sub-attribute of groups", { op: "remove", path: "groups.display" }],
    ["meta", { op: "remove", path: "meta" }],
    ["the manager's read-only displayName", { op: "remove", path: `${ENT}:manager.displayName` }],
  ])("refuses a remove of %s in every mode (RFC 7644 3.5.2.2)", (_, op) => {
    for (const lenient of [true, false]) expect(scimTypeOf(() => patchUser([op], lenient))).toBe("mutability");
  });

  it("accepts re-sending unchanged read-only values", () => {
    const r = patchUser([{ op: "replace", value: { id: "u1", meta: user().meta } }], false);
    expect(r.changed).toBe(false);
  });

  it("accepts schemas naming known schemas as a no-op, refuses unknown ones when strict", () => {
    expect(patchUser([{ op: "replace", path: "schemas", value: [USER_SCHEMA, ENT] }], false).changed).toBe(false);
    expect(scimTypeOf(() => patchUser([{ op: "add", path: "schemas", value: ["urn:x:y"] }], false))).toBe("invalidValue");
  });

  it("maps invalid-input errors to the domain InvalidInputError with the scimType as kind", () => {
    const e = errorOf(() => patchUser([{ op: "remove" }]));
    expect(e).toBeInstanceOf(InvalidInputError);
    expect((e as ScimPatchError).kind).toBe("noTarget");
  });
});

describe("atomicity", () => {
  it("leaves the input untouched when an operation in the middle fails", () => {
    const input = user();
    const snapshot = structuredClone(input);
    expect(() =>
      applyPatch("User", input, body({ op: "replace", path: "title", value: "x" }, { op: "replace", path: "id", value: "y" }, { op: "remove", path: "emails" }), {
        lenient: true,
      }),
    ).toThrow(ScimPatchMutabilityError);
    expect(input).toEqual(snapshot);
  });

  it("returns a new object sharing nothing mutable with the input", () => {
    const input = user();
    const r = patchUser([{ op: "replace", path: "title", value: "x" }], true, input);
    expect(r.resource).not.toBe(input);
    expect(r.resource.emails).not.toBe(input.emails);
    expect(r.resource.emails).toEqual(input.emails);
  });

  it("normalises the stored resource's casing without calling that a change", () => {
    const stored = deepFreeze({ schemas: [USER_SCHEMA], id: "u1", UserName: "b", Name: { GivenName: "B" } });
    const r = applyPatch("User", stored, body({ op: "replace", path: "userName", value: "b" }), { lenient: false });
    expect(r.resource).toEqual({ schemas: [USER_SCHEMA], id: "u1", userName: "b", name: { givenName: "B" } });
    expect(r.changed).toBe(false);
  });
});

describe("Group members", () => {
  it("adds members as deltas, never touching the resource (Postman: addMember)", () => {
    const r = patchGroup([{ name: "addMember", op: "add", path: "members", value: [{ displayName: "new User", value: "u4" }] }]);
    expect(r.members).toEqual({ add: ["u4"], remove: [] });
    expect(r.resource).toEqual(group());
    expect(r.changed).toBe(false);
  });

  it("adds a member given as a bare string when lenient (Entra conformance), not when strict", () => {
    expect(patchGroup([{ op: "add", path: "members", value: "string id 1" }]).members).toEqual({ add: ["string id 1"], remove: [] });
    expect(scimTypeOf(() => patchGroup([{ op: "add", path: "members", value: "string id 1" }], false))).toBe("invalidValue");
  });

  it("removes members selected by value eq, also or-combined (Okta, Postman)", () => {
    expect(patchGroup([{ op: "remove", path: 'members[value eq "u4"]' }], false).members).toEqual({ add: [], remove: ["u4"] });
    expect(patchGroup([{ op: "remove", path: 'members[value eq "a" or value eq "b"]' }], false).members).toEqual({ add: [], remove: ["a", "b"] });
  });

  it("removes the members named in the value (Entra)", () => {
    const r = patchGroup([{ op: "Remove", path: "members", value: [{ value: "a" }, { value: "b" }] }]);
    expect(r.members).toEqual({ add: [], remove: ["a", "b"] });
  });

  it("removes all members without filter or value (Postman: remove all users)", () => {
    expect(patchGroup([{ op: "remove", path: "members" }], false).members).toEqual({ replaceAll: [], add: [], remove: [] });
  });

  it("replaces all members (Okta: replace members [])", () => {
    expect(patchGroup([{ op: "replace", path: "members", value: [] }], false).members).toEqual({ replaceAll: [], add: [], remove: [] });
    expect(patchGroup([{ op: "replace", value: { members: [{ value: "a" }] } }], false).members).toEqual({ replaceAll: ["a"], add: [], remove: [] });
  });

  it("folds operations in order, the last one on an id winning", () => {
    const r = patchGroup([
      { op: "add", path: "members", value: [{ value: "a" }, { value: "b" }] },
      { op: "remove", path: 'members[value eq "a"]' },
      { op: "remove", path: 'members[value eq "c"]' },
      { op: "add", path: "members", value: [{ value: "c" }] },
    ]);
    expect(r.members).toEqual({ add: ["b", "c"], remove: ["a"] });
    const reset = patchGroup([
      { op: "add", path: "members", value: [{ value: "x" }] },
      { op: "replace", path: "members", value: [{ value: "a" }] },
      { op: "add", path: "members", value: [{ value: "b" }] },
      { op: "remove", path: 'members[value eq "a"]' },
    ]);
    expect(reset.members).toEqual({ replaceAll: ["b"], add: [], remove: [] });
  });

  it("renames with a path-less replace (JumpCloud) alongside member changes (Okta)", () => {
    const r = patchGroup([
      { op: "replace", value: { id: "g1", displayName: "Platform" } },
      { op: "remove", path: 'members[value eq "u1"]' },
    ], false);
    expect(r.resource.displayName).toBe("Platform");
    expect(r.changed).toBe(true);
    expect(r.members).toEqual({ add: [], remove: ["u1"] });
  });

  it("omits members when no operation addresses them", () => {
    expect(patchGroup([{ op: "replace", path: "displayName", value: "x" }]).members).toBeUndefined();
  });

  it.each([
    ["a member sub-attribute", { op: "replace", path: "members.display", value: "x" }, "invalidPath"],
    ["a filtered replace", { op: "replace", path: 'members[value eq "a"]', value: { value: "b" } }, "invalidPath"],
    ["a filter not on value", { op: "remove", path: 'members[display eq "Ann"]' }, "invalidFilter"],
    ["a member without id", { op: "add", path: "members", value: [{ display: "Ann" }] }, "invalidValue"],
    ["changing the group id", { op: "replace", value: { id: "g2", displayName: "x" } }, "mutability"],
    ["removing displayName", { op: "remove", path: "displayName" }, "mutability"],
  ])("refuses %s", (_, op, scimType) => {
    expect(scimTypeOf(() => patchGroup([op], false))).toBe(scimType);
  });
});

describe("properties", () => {
  const stringPaths = ["userName", "displayName", "title", "nickName", "name.givenName", "name.formatted", `${ENT}:department`];

  it("a replaced attribute reads back as written", () => {
    fc.assert(
      fc.property(fc.constantFrom(...stringPaths), fc.string({ minLength: 1 }), fc.boolean(), (path, value, lenient) => {
        const r = patchUser([{ op: "replace", path, value }], lenient).resource;
        const [scope, attr] = path.startsWith(ENT) ? [r[ENT] as JsonObject, path.slice(ENT.length + 1)] : [r, path];
        const [name, sub] = attr.split(".") as [string, string | undefined];
        const read = sub === undefined ? scope[name] : (scope[name] as JsonObject)[sub];
        expect(read).toBe(value);
      }),
    );
  });

  const email = fc.record(
    { value: fc.constantFrom("a@x", "b@x", "c@x"), type: fc.constantFrom("work", "home"), primary: fc.boolean() },
    { requiredKeys: ["value"] },
  );

  it("add is idempotent", () => {
    fc.assert(
      fc.property(fc.array(email, { maxLength: 4 }), (emails) => {
        const op = { op: "add", path: "emails", value: emails.map((e, i) => (i === 0 ? e : { ...e, primary: false })) };
        const once = patchUser([op]);
        const twice = patchUser([op], true, deepFreeze(once.resource));
        expect(twice.resource).toEqual(once.resource);
        expect(twice.changed).toBe(false);
      }),
    );
  });

  const operation = fc.oneof(
    fc.record({ op: fc.constantFrom("add", "replace", "Replace"), path: fc.constantFrom("emails", 'emails[type eq "work"]', "emails.primary"), value: fc.oneof(email, fc.array(email, { maxLength: 2 })) }),
    fc.record({ op: fc.constantFrom("add", "replace", "remove"), path: fc.constantFrom("id", "userName", "title", 'emails[type eq "home"].value', "name.givenName", `${ENT}:manager`), value: fc.oneof(fc.string(), fc.constant(null)) }),
    fc.record({ op: fc.constantFrom("remove", "delete"), path: fc.constantFrom("emails", "meta", "title", 'emails[primary eq true]') }),
  );

  it("either applies every operation or throws a SCIM error, never touching the input", () => {
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 6 }), fc.boolean(), (ops, lenient) => {
        const input = user(); // frozen: any write to it throws a TypeError, failing the property
        try {
          const r = applyPatch("User", input, body(...ops), { lenient });
          const primaries = ((r.resource.emails ?? []) as JsonObject[]).filter((e) => e.primary === true);
          expect(primaries.length).toBeLessThanOrEqual(1);
        } catch (e) {
          expect(e instanceof ScimPatchError || e instanceof ScimPatchMutabilityError).toBe(true);
        }
      }),
    );
  });

  it("member changes equal applying the operations one by one", () => {
    const id = fc.constantFrom("a", "b", "c", "d");
    const memberOp = fc.oneof(
      fc.record({ kind: fc.constant("add" as const), ids: fc.array(id, { maxLength: 3 }) }),
      fc.record({ kind: fc.constant("remove" as const), ids: fc.array(id, { minLength: 1, maxLength: 3 }) }),
      fc.record({ kind: fc.constant("replace" as const), ids: fc.array(id, { maxLength: 3 }) }),
      fc.record({ kind: fc.constant("clear" as const), ids: fc.constant([]) }),
    );
    const toPatch = ({ kind, ids }: { kind: string; ids: readonly string[] }) => {
      const value = ids.map((v) => ({ value: v }));
      if (kind === "clear") return { op: "remove", path: "members" };
      if (kind === "remove") return { op: "remove", path: `members[${ids.map((v) => `value eq "${v}"`).join(" or ")}]` };
      return { op: kind, path: "members", value };
    };
    const applyChanges = (stored: Set<string>, c: MemberChanges) => {
      const out = new Set(c.replaceAll ?? stored);
      c.add.forEach((v) => out.add(v));
      c.remove.forEach((v) => out.delete(v));
      return out;
    };
    fc.assert(
      fc.property(fc.uniqueArray(id), fc.array(memberOp, { minLength: 1, maxLength: 8 }), (initial, ops) => {
        const model = new Set(initial);
        for (const { kind, ids } of ops) {
          if (kind === "clear" || kind === "replace") model.clear();
          for (const v of ids) {
            if (kind === "remove") model.delete(v);
            else model.add(v);
          }
        }
        const r = patchGroup(ops.map(toPatch), false);
        const changes = r.members ?? { add: [], remove: [] };
        expect(applyChanges(new Set(initial), changes)).toEqual(model);
        expect(changes.add.filter((v) => changes.remove.includes(v))).toEqual([]);
        if (changes.replaceAll !== undefined) expect([changes.add, changes.remove]).toEqual([[], []]);
      }),
    );
  });
});
