// The mapping domain: golden payloads, validation, transforms, role precedence, remap
// segments. Pure: no database.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { userFields } from "../../core/domain/resources.ts";
import { InvalidInputError } from "../../core/domain/errors.ts";
import { compileRuleSet } from "./evaluate.ts";
import type { GroupInfo, MappingRule, RoleRule, RuleSet } from "./model.ts";
import { presetFor } from "./presets.ts";
import { announcedVersion, fromVersion, supersede } from "./remap.ts";
import { globToRegExp, roleEvaluator } from "./roles.ts";
import { effectiveRules, MappingValidationError, validateMapping } from "./rules.ts";
import { parseTime } from "./transforms.ts";
import { ADA, PAYLOADS } from "./testdata/payloads.ts";

const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const CUSTOM = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";

function run(provider: keyof typeof PAYLOADS | "generic", payload: unknown, overrides: MappingRule[] = [], roleRules: RoleRule[] = [], groups: GroupInfo[] = []) {
  validateMapping(overrides, roleRules);
  const set: RuleSet = { rules: effectiveRules(presetFor(provider), overrides), roleRules };
  const fields = userFields(payload);
  return compileRuleSet(set)({ record: { active: fields.active, deletedAt: null, resource: fields.resource }, groups });
}

function problems(overrides: MappingRule[], roleRules: RoleRule[] = []): string[] {
  try {
    validateMapping(overrides, roleRules);
  } catch (error) {
    expect(error).toBeInstanceOf(MappingValidationError);
    expect(error).toBeInstanceOf(InvalidInputError);
    return [...(error as MappingValidationError).problems];
  }
  return [];
}

const field = (f: MappingRule["target"] & { kind: "field" }): MappingRule["target"] => f;

describe("golden payloads", () => {
  for (const [provider, payload] of Object.entries(PAYLOADS) as Array<[keyof typeof PAYLOADS, unknown]>) {
    it(`${provider} yields the canonical Ada`, () => {
      const { fields, warnings } = run(provider, payload);
      expect(warnings).toEqual([]);
      const { externalId, ...rest } = fields;
      expect(rest).toEqual(ADA);
      expect(externalId).toBe((payload as { externalId: string }).externalId);
    });
  }

  it("names the rule behind every field", () => {
    const { sources } = run("entra", PAYLOADS.entra);
    expect(sources).toContainEqual({ target: "emails", sourcePath: `emails[type eq "work"].value`, fromPreset: true });
    expect(sources).toContainEqual({ target: "managerId", sourcePath: `${ENTERPRISE}:manager.value`, fromPreset: true });
    const onelogin = run("onelogin", PAYLOADS.onelogin);
    expect(onelogin.sources).toContainEqual({ target: "displayName", sourcePath: "name.formatted", fromPreset: true });
  });
});

describe("rules", () => {
  it("maps custom extensions, value filters and typed transforms", () => {
    const payload = {
      userName: "u@example.com",
      emails: [{ value: "x@home.example", type: "home" }, { value: "u@example.com", type: "work" }],
      [CUSTOM]: { firstName: "  Grace ", teams: "core, infra,,sre", isContractor: "Yes", hired: "2021-03-04", level: 7, tags: ["a", "b"] },
    };
    const overrides: MappingRule[] = [
      { sourcePath: `${CUSTOM}:firstName`, target: { kind: "field", field: "givenName" }, transforms: [{ kind: "trim" }] },
      { sourcePath: `emails[type eq "work"].value`, target: { kind: "custom", name: "workEmail", type: "string" }, transforms: [] },
      { sourcePath: `${CUSTOM}:teams`, target: { kind: "custom", name: "teams", type: "stringList" }, transforms: [{ kind: "split", separator: "," }, { kind: "trim" }] },
      { sourcePath: `${CUSTOM}:isContractor`, target: { kind: "custom", name: "contractor", type: "bool" }, transforms: [{ kind: "toBool" }] },
      { sourcePath: `${CUSTOM}:hired`, target: { kind: "custom", name: "hired", type: "time" }, transforms: [{ kind: "toTime" }] },
      { sourcePath: `${CUSTOM}:level`, target: { kind: "custom", name: "level", type: "number" }, transforms: [] },
      { sourcePath: `${CUSTOM}:tags`, target: { kind: "custom", name: "tagLine", type: "string" }, transforms: [{ kind: "join", separator: "|" }] },
      { sourcePath: `${CUSTOM}:missing`, target: { kind: "custom", name: "site", type: "string" }, transforms: [{ kind: "default", value: "HQ" }] },
    ];
    const { fields, warnings } = run("generic", payload, overrides);
    expect(warnings).toEqual([]);
    expect(fields.givenName).toBe("Grace");
    expect(fields.customAttributes).toEqual({
      workEmail: { type: "string", value: "u@example.com" },
      teams: { type: "stringList", value: ["core", "infra", "sre"] },
      contractor: { type: "bool", value: true },
      hired: { type: "time", value: "2021-03-04T00:00:00.000Z" },
      level: { type: "number", value: 7 },
      tagLine: { type: "string", value: "a|b" },
      site: { type: "string", value: "HQ" },
    });
  });

  it("falls back to the next rule of a target, and overrides replace the preset's rules", () => {
    const overrides: MappingRule[] = [
      { sourcePath: `${CUSTOM}:dept`, target: { kind: "field", field: "department" }, transforms: [] },
      { sourcePath: `${ENTERPRISE}:department`, target: { kind: "field", field: "department" }, transforms: [{ kind: "lowerCase" }] },
    ];
    expect(run("generic", { userName: "a", [CUSTOM]: { dept: "R&D" }, [ENTERPRISE]: { department: "Eng" } }, overrides).fields.department).toBe("R&D");
    expect(run("generic", { userName: "a", [ENTERPRISE]: { department: "Eng" } }, overrides).fields.department).toBe("eng");
    const rules = effectiveRules(presetFor("generic"), overrides).filter((r) => r.target.kind === "field" && r.target.field === "department");
    expect(rules.every((r) => !r.fromPreset)).toBe(true);
  });

  it("turns unreadable values into warnings, not failures", () => {
    const overrides: MappingRule[] = [
      { sourcePath: `${CUSTOM}:flag`, target: { kind: "custom", name: "flag", type: "bool" }, transforms: [{ kind: "toBool" }] },
      { sourcePath: `${CUSTOM}:flag`, target: { kind: "field", field: "active" }, transforms: [{ kind: "toBool" }] },
    ];
    const { fields, warnings } = run("generic", { userName: "a", active: false, [CUSTOM]: { flag: "maybe" } }, overrides);
    expect(fields.customAttributes).toEqual({});
    expect(fields.state).toBe("inactive");
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain(`to_bool cannot read "maybe"`);
  });

  it("refuses unknown paths, bad transforms and type mismatches, each named", () => {
    const got = problems([
      { sourcePath: "firstName", target: field({ kind: "field", field: "givenName" }), transforms: [] },
      { sourcePath: `${ENTERPRISE}:departmnt`, target: field({ kind: "field", field: "department" }), transforms: [] },
      { sourcePath: "emails[type eq", target: field({ kind: "field", field: "emails" }), transforms: [] },
      { sourcePath: "name", target: field({ kind: "field", field: "displayName" }), transforms: [] },
      { sourcePath: "active", target: field({ kind: "field", field: "givenName" }), transforms: [] },
      { sourcePath: "userName", target: field({ kind: "field", field: "active" }), transforms: [] },
      { sourcePath: "emails.value", target: field({ kind: "field", field: "emails" }), transforms: [{ kind: "split", separator: "," }] },
      { sourcePath: "title", target: field({ kind: "field", field: "jobTitle" }), transforms: [{ kind: "split", separator: "" }] },
      { sourcePath: "title", target: { kind: "custom", name: "hired", type: "time" }, transforms: [] },
      { sourcePath: "active", target: field({ kind: "field", field: "active" }), transforms: [{ kind: "default", value: "perhaps" }] },
      { sourcePath: "password", target: field({ kind: "field", field: "givenName" }), transforms: [] },
      { sourcePath: `emails[nope eq "x"].value`, target: field({ kind: "field", field: "emails" }), transforms: [] },
      { sourcePath: "title", target: { kind: "custom", name: "9lives", type: "string" }, transforms: [] },
    ]);
    expect(got).toHaveLength(13);
    expect(got[0]).toMatch(/^override 1 \(givenName\): .*no attribute "firstName" in the core User schema; address custom attributes by their extension URN/);
    expect(got[1]).toMatch(/override 2 \(department\): .*no attribute "departmnt"/);
    expect(got[2]).toMatch(/override 3 \(emails\): /);
    expect(got[3]).toMatch(/"name" is complex: name one of its sub-attributes/);
    expect(got[4]).toMatch(/type mismatch: givenName needs a string, but "active" gives a boolean/);
    expect(got[5]).toMatch(/type mismatch: active needs a boolean, but "userName" gives a string \(add to_bool\)/);
    expect(got[6]).toMatch(/split\(","\) needs a string, but gets a list of strings/);
    expect(got[7]).toMatch(/split needs a non-empty separator/);
    expect(got[8]).toMatch(/custom.hired needs a time, but "title" gives a string \(add to_time\)/);
    expect(got[9]).toMatch(/default_value "perhaps" is not a boolean/);
    expect(got[10]).toMatch(/"password" is never stored/);
    expect(got[11]).toMatch(/unknown attribute "nope"/);
    expect(got[12]).toMatch(/custom attribute name "9lives"/);
  });

  it("refuses bad role rules", () => {
    const got = problems([], [
      { match: "id", value: "not-a-uuid", roles: ["admin"], stop: false },
      { match: "displayNamePattern", value: "eng-*", roles: ["Not A Slug"], stop: false },
      { match: "externalId", value: "x", roles: [], stop: false },
    ]);
    expect(got).toEqual([
      `role rule 1: a group id must be a UUID, got "not-a-uuid"`,
      `role rule 2: role "Not A Slug" is not a slug (lower-case letters, digits, ".", "_", ":" or "-", at most 64)`,
      "role rule 3: names no role",
    ]);
  });

  it("accepts every preset", () => {
    for (const provider of ["okta", "entra", "google", "onelogin", "jumpcloud", "generic"] as const) {
      expect(problems([...presetFor(provider)])).toEqual([]);
    }
  });

  it("reads RFC 3339 times and dates, refuses impossible ones", () => {
    expect(parseTime("2024-02-29")).toBe("2024-02-29T00:00:00.000Z");
    expect(parseTime("2024-03-01T10:00:00+02:00")).toBe("2024-03-01T08:00:00.000Z");
    expect(parseTime("2023-02-29")).toBeUndefined();
    expect(parseTime("yesterday")).toBeUndefined();
  });
});

describe("role rules", () => {
  const g = (id: string, displayName: string, externalId: string | null = null): GroupInfo => ({ id, displayName, externalId });
  const ENG = g("00000000-0000-7000-8000-000000000001", "Eng-Platform", "okta-eng");
  const ADMINS = g("00000000-0000-7000-8000-000000000002", "Admins");
  const SALES = g("00000000-0000-7000-8000-000000000003", "Sales EMEA");

  it("unions matching rules in rule order, each role once, until a stop", () => {
    const rules: RoleRule[] = [
      { match: "id", value: ADMINS.id, roles: ["admin", "member"], stop: true },
      { match: "displayNamePattern", value: "eng-*", roles: ["engineer", "member"], stop: false },
      { match: "externalId", value: "okta-eng", roles: ["deployer"], stop: false },
      { match: "displayNamePattern", value: "Sales ????", roles: ["sales"], stop: false },
    ];
    const roles = roleEvaluator(rules);
    expect(roles([ENG]).roles).toEqual(["engineer", "member", "deployer"]);
    expect(roles([ENG, SALES]).roles).toEqual(["engineer", "member", "deployer", "sales"]);
    // The admins rule comes first and stops: nothing after it applies.
    expect(roles([ENG, ADMINS]).roles).toEqual(["admin", "member"]);
    expect(roles([]).roles).toEqual([]);
  });

  it("adds attribute-mapped roles after group roles", () => {
    const { fields } = run("generic", { userName: "a", roles: [{ value: "Auditor" }, { value: "ENGINEER" }] }, [], [{ match: "displayNamePattern", value: "eng*", roles: ["engineer"], stop: false }], [ENG]);
    expect(fields.roles).toEqual(["engineer", "auditor"]);
  });

  it("globs: * and ? only, the rest literal, case-insensitive", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (raw, suffix) => {
        const literal = raw.replace(/[*?]/g, "");
        expect(globToRegExp(literal).test(literal)).toBe(true);
        expect(globToRegExp(`${literal}*`).test(literal + suffix)).toBe(true);
        expect(globToRegExp("*").test(raw)).toBe(true);
      }),
    );
    expect(globToRegExp("a.b").test("axb")).toBe(false);
    expect(globToRegExp("team-(x)").test("TEAM-(X)")).toBe(true);
  });
});

describe("remap segments", () => {
  const id = (n: number) => `00000000-0000-7000-8000-${String(n).padStart(12, "0")}`;

  it("users up to the cursor are at the target version, the rest at their starting version", () => {
    const job = { fromSegments: [{ upTo: null, version: 1 }], toVersion: 2, cursor: id(50) };
    expect(announcedVersion(job, id(10))).toBe(2);
    expect(announcedVersion(job, id(50))).toBe(2);
    expect(announcedVersion(job, id(51))).toBe(1);
  });

  it("a job that takes over starts from the split its predecessor left", () => {
    const first = { fromSegments: [{ upTo: null, version: 1 }], toVersion: 2, cursor: id(50) };
    const second = { fromSegments: supersede(first), toVersion: 3, cursor: id(20) };
    expect(second.fromSegments).toEqual([{ upTo: id(50), version: 2 }, { upTo: null, version: 1 }]);
    const third = supersede(second);
    expect(third).toEqual([{ upTo: id(20), version: 3 }, { upTo: id(50), version: 2 }, { upTo: null, version: 1 }]);
    expect(fromVersion(third, id(10))).toBe(3);
    expect(fromVersion(third, id(30))).toBe(2);
    expect(fromVersion(third, id(90))).toBe(1);
    expect(supersede({ fromSegments: third, toVersion: 4, cursor: null })).toEqual(third);
  });
});
