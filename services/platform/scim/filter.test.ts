import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { AttrRef, CompareOp, Filter } from "./ast.ts";
import { matchesFilter, parseAttributeList, parseFilter, parsePatchPath, ScimFilterError } from "./filter.ts";
import { ScimRequestError } from "./errors.ts";
import { ENTERPRISE_USER_SCHEMA } from "./schema.ts";

const ENT = ENTERPRISE_USER_SCHEMA.toLowerCase();
const pr = (name: string): Filter => ({ kind: "present", attr: { name } });
const eq = (name: string, value: string | number | boolean | null, sub?: string): Filter => ({
  kind: "compare",
  attr: sub === undefined ? { name } : { name, sub },
  op: "eq",
  value,
});

/** Asserts that parsing fails with a ScimFilterError at `offset` whose message contains `says`. */
function expectError(run: () => unknown, offset: number | undefined, says: string): void {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(ScimFilterError);
    expect((e as ScimFilterError).offset).toBe(offset);
    expect((e as Error).message).toContain(says);
    return;
  }
  expect.fail("expected a ScimFilterError");
}

describe("parseFilter grammar", () => {
  it("binds not tighter than and, and tighter than or, both left-associative", () => {
    expect(parseFilter("a pr or b pr and c pr")).toEqual({ kind: "or", left: pr("a"), right: { kind: "and", left: pr("b"), right: pr("c") } });
    expect(parseFilter("a pr and b pr or c pr")).toEqual({ kind: "or", left: { kind: "and", left: pr("a"), right: pr("b") }, right: pr("c") });
    expect(parseFilter("a pr or b pr or c pr")).toEqual({ kind: "or", left: { kind: "or", left: pr("a"), right: pr("b") }, right: pr("c") });
    expect(parseFilter("not (a pr) and b pr")).toEqual({ kind: "and", left: { kind: "not", filter: pr("a") }, right: pr("b") });
    expect(parseFilter("(a pr or b pr) and c pr")).toEqual({ kind: "and", left: { kind: "or", left: pr("a"), right: pr("b") }, right: pr("c") });
  });

  it("reads every operator, in any case", () => {
    for (const op of ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"] as const) {
      expect(parseFilter(`userName ${op.toUpperCase()} "x"`)).toEqual({ kind: "compare", attr: { name: "userName" }, op, value: "x" });
    }
    expect(parseFilter("title PR")).toEqual(pr("title"));
    expect(parseFilter('a pr AND b pr Or NOT(c pr)')).toEqual({
      kind: "or",
      left: { kind: "and", left: pr("a"), right: pr("b") },
      right: { kind: "not", filter: pr("c") },
    });
  });

  it("reads JSON values: strings with escapes, true, false, null and numbers", () => {
    expect(parseFilter(String.raw`a eq "q\"b\\s\/\u00e9\n"`)).toEqual(eq("a", 'q"b\\s/é\n'));
    expect(parseFilter("a eq true")).toEqual(eq("a", true));
    expect(parseFilter("a eq False")).toEqual(eq("a", false));
    expect(parseFilter("a eq null")).toEqual(eq("a", null));
    expect(parseFilter("a eq -1.5e3")).toEqual(eq("a", -1500));
    expect(parseFilter("a eq 0")).toEqual(eq("a", 0));
    expect(parseFilter('a eq ""')).toEqual(eq("a", ""));
  });

  it("reads sub-attributes and URN-qualified paths", () => {
    expect(parseFilter('name.familyName co "O\'Malley"')).toEqual({ kind: "compare", attr: { name: "name", sub: "familyName" }, op: "co", value: "O'Malley" });
    expect(parseFilter(`${ENTERPRISE_USER_SCHEMA}:manager.value eq "x"`)).toEqual({
      kind: "compare",
      attr: { schema: ENT, name: "manager", sub: "value" },
      op: "eq",
      value: "x",
    });
    expect(parseFilter("urn:ietf:params:scim:schemas:core:2.0:User:userName pr")).toEqual({
      kind: "present",
      attr: { schema: "urn:ietf:params:scim:schemas:core:2.0:user", name: "userName" },
    });
    expect(parseFilter("members.$ref pr")).toEqual({ kind: "present", attr: { name: "members", sub: "$ref" } });
  });

  it("reads value filters, with and/or/not inside, and rejects nested ones", () => {
    expect(parseFilter('emails[type eq "work" and value co "@x"]')).toEqual({
      kind: "valuePath",
      attr: { name: "emails" },
      filter: { kind: "and", left: eq("type", "work"), right: { kind: "compare", attr: { name: "value" }, op: "co", value: "@x" } },
    });
    expect(parseFilter('userType eq "Employee" and emails[not (type eq "work")] or x pr').kind).toBe("or");
    expectError(() => parseFilter('emails[type[value pr] pr]'), 11, "value filters do not nest");
    expectError(() => parseFilter('emails[(type[value pr])]'), 12, "value filters do not nest");
    expectError(() => parseFilter('emails.value[type pr]'), 12, "not a sub-attribute");
    expectError(() => parseFilter('emails[type pr'), 14, '"]"');
  });

  it("takes an attribute called not as an attribute", () => {
    expect(parseFilter('not eq "x"')).toEqual(eq("not", "x"));
  });

  it("tolerates extra whitespace", () => {
    expect(parseFilter('  a  eq\t"x"   and   ( b pr )  ')).toEqual({ kind: "and", left: eq("a", "x"), right: pr("b") });
  });

  it("reads unquoted values only when lenient, as Entra sends them", () => {
    const lenient = { lenient: true };
    expect(parseFilter("userName sw O", lenient)).toEqual({ kind: "compare", attr: { name: "userName" }, op: "sw", value: "O" });
    expect(parseFilter("emails.Value co example.com", lenient)).toEqual({ kind: "compare", attr: { name: "emails", sub: "Value" }, op: "co", value: "example.com" });
    expect(parseFilter("meta.Created gt 2015-10-10T14:38:21.8617979-07:00", lenient)).toEqual({
      kind: "compare",
      attr: { name: "meta", sub: "Created" },
      op: "gt",
      value: "2015-10-10T14:38:21.8617979-07:00",
    });
    expect(parseFilter("(a eq b) and c[d eq e]", lenient)).toEqual({
      kind: "and",
      left: eq("a", "b"),
      right: { kind: "valuePath", attr: { name: "c" }, filter: eq("d", "e") },
    });
    expectError(() => parseFilter("userName sw O"), 12, "expected a value");
    expectError(() => parseFilter("meta.created gt 2015-10-10T14:38:21Z"), 16, "expected a value");
  });

  it("says what it expected and where", () => {
    const cases: [string, number, string][] = [
      ["", 0, "an attribute path"],
      ['userName eq "x" annd y pr', 16, '"and", "or" or the end'],
      ['userName eq', 11, "a space and a value"],
      ['userName eq"x"', 11, "a space and a value"],
      ['userName eqq "x"', 9, "an operator"],
      ['userName eq ', 12, "a value"],
      ['userName xx "x"', 9, "an operator"],
      ['userName eq "unterminated', 12, "closing quote"],
      [String.raw`userName eq "bad \q escape"`, 12, "a valid JSON string"],
      ['userName eq "x" and', 19, "an attribute path"],
      ['(userName pr', 12, '")"'],
      ["not userName pr", 4, "an operator"],
      ["a.b.c pr", 3, "at most one sub-attribute"],
      ["1abc pr", 0, "an attribute name"],
      ["foo:bar pr", 0, "a schema URN"],
      ["userName eq \"x\")", 15, "the end of the filter"],
    ];
    for (const [text, offset, says] of cases) expectError(() => parseFilter(text), offset, says);
  });

  it("is a SCIM request error of kind invalidFilter", () => {
    try {
      parseFilter("(");
    } catch (e) {
      expect(e).toBeInstanceOf(ScimRequestError);
      expect((e as ScimRequestError).kind).toBe("invalidFilter");
    }
  });

  it("bounds length and nesting depth", () => {
    expect(() => parseFilter(`a eq "${"x".repeat(4000)}"`)).not.toThrow();
    expectError(() => parseFilter(`a eq "${"x".repeat(4100)}"`), undefined, "more than the 4096 allowed");
    expectError(() => parseFilter("a pr", { maxLength: 3 }), undefined, "more than the 3 allowed");
    const nested = (n: number) => `${"(".repeat(n)}a pr${")".repeat(n)}`;
    expect(parseFilter(nested(32))).toEqual(pr("a"));
    expectError(() => parseFilter(nested(33)), 32, "nesting deeper than 32");
    expectError(() => parseFilter("not (not (a pr))", { maxDepth: 1 }), 9, "nesting deeper than 1");
    expectError(() => parseFilter("(e[a pr])", { maxDepth: 1 }), 2, "nesting deeper than 1");
    // Long and/or chains are not nesting: they are bounded by the length limit instead.
    expect(() => parseFilter(Array.from({ length: 400 }, () => "a pr").join(" or "))).not.toThrow();
  });

  it("reads back what a printer writes, for generated filters", () => {
    // A printer that uses parentheses only where precedence or associativity needs them,
    // so the round trip checks the parser's precedence rules.
    const print = (f: Filter): string => {
      const path = (a: AttrRef) => `${a.schema === undefined ? "" : `${a.schema}:`}${a.name}${a.sub === undefined ? "" : `.${a.sub}`}`;
      const child = (c: Filter, parent: "and" | "or", right: boolean) =>
        (c.kind === "or" && parent === "and") || (right && c.kind === parent) ? `(${print(c)})` : print(c);
      switch (f.kind) {
        case "compare": return `${path(f.attr)} ${f.op} ${JSON.stringify(f.value)}`;
        case "present": return `${path(f.attr)} pr`;
        case "and": case "or": return `${child(f.left, f.kind, false)} ${f.kind} ${child(f.right, f.kind, true)}`;
        case "not": return `not (${print(f.filter)})`;
        case "valuePath": return `${path(f.attr)}[${print(f.filter)}]`;
      }
    };
    const name = fc.constantFrom("userName", "emails", "a-b_c", "$ref", "not", "and");
    const attr: fc.Arbitrary<AttrRef> = fc.record(
      { schema: fc.constantFrom(ENT, "urn:ietf:params:scim:schemas:core:2.0:user"), name, sub: name },
      { requiredKeys: ["name"] },
    );
    // U+0000 is refused in any literal (Postgres cannot store it): tested on its own.
    const value = fc.oneof(fc.string({ unit: "binary" }).filter((s) => !s.includes("\u0000")), fc.boolean(), fc.constant(null), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0)));
    const ops = fc.constantFrom<CompareOp>("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le");
    const tree = (withValuePath: boolean): fc.Arbitrary<Filter> =>
      fc.letrec<{ f: Filter }>((tie) => ({
        f: fc.oneof(
          { depthSize: "small", withCrossShrink: true },
          fc.record({ kind: fc.constant("compare" as const), attr, op: ops, value }),
          fc.record({ kind: fc.constant("present" as const), attr }),
          fc.record({ kind: fc.constantFrom("and" as const, "or" as const), left: tie("f"), right: tie("f") }),
          fc.record({ kind: fc.constant("not" as const), filter: tie("f") }),
          ...(withValuePath ? [fc.record({ kind: fc.constant("valuePath" as const), attr: attr.map(({ sub: _, ...a }) => a), filter: tree(false) })] : []),
        ),
      })).f;
    fc.assert(
      fc.property(tree(true), (f) => {
        expect(parseFilter(print(f), { maxDepth: 1000, maxLength: 1e6 })).toEqual(f);
      }),
    );
  });

  it("never throws anything but ScimFilterError on arbitrary text", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(..."ab.:[]()\" \\eqprnotd1-$") }), fc.boolean(), (text, lenient) => {
        try {
          parseFilter(text, { lenient });
        } catch (e) {
          expect(e).toBeInstanceOf(ScimFilterError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe("parsePatchPath", () => {
  it("reads the RFC 7644 section 3.5.2 path forms", () => {
    expect(parsePatchPath("name.givenName")).toEqual({ attr: { name: "name", sub: "givenName" } });
    expect(parsePatchPath('members[value eq "2819c223"]')).toEqual({ attr: { name: "members" }, filter: eq("value", "2819c223") });
    expect(parsePatchPath('members[value eq "x"].display')).toEqual({ attr: { name: "members" }, filter: eq("value", "x"), subAfterFilter: "display" });
    expect(parsePatchPath(`${ENTERPRISE_USER_SCHEMA}:manager`)).toEqual({ attr: { schema: ENT, name: "manager" } });
    expect(parsePatchPath(`${ENTERPRISE_USER_SCHEMA}:manager.value`)).toEqual({ attr: { schema: ENT, name: "manager", sub: "value" } });
    expect(parsePatchPath('emails[type eq work].value', { lenient: true })).toEqual({ attr: { name: "emails" }, filter: eq("type", "work"), subAfterFilter: "value" });
  });

  it("reports invalidPath with the offset", () => {
    for (const [text, offset] of [["", 0], ["members[", 8], ['members[value eq "x"]x', 21], ['members[value eq "x"].', 22], ["a b", 1]] as const) {
      try {
        parsePatchPath(text);
        expect.fail(text);
      } catch (e) {
        expect(e).toBeInstanceOf(ScimFilterError);
        expect((e as ScimFilterError).kind).toBe("invalidPath");
        expect((e as ScimFilterError).offset, text).toBe(offset);
      }
    }
  });
});

describe("parseAttributeList", () => {
  it("reads comma-separated, URN-qualified paths", () => {
    expect(parseAttributeList("userName, name.givenName ,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department")).toEqual([
      { name: "userName" },
      { name: "name", sub: "givenName" },
      { schema: ENT, name: "department" },
    ]);
    expect(parseAttributeList("")).toEqual([]);
    expect(parseAttributeList("  ")).toEqual([]);
  });

  it("reads a value filter as its attribute, commas inside it included", () => {
    expect(parseAttributeList('emails[type eq "work"]')).toEqual([{ name: "emails" }]);
    expect(parseAttributeList('emails[value eq "a,b"].display,members')).toEqual([{ name: "emails", sub: "display" }, { name: "members" }]);
  });

  it("rejects malformed lists", () => {
    expectError(() => parseAttributeList("userName,,id"), 9, "an attribute path");
    expectError(() => parseAttributeList("userName id"), 9, '","');
  });
});

describe("matchesFilter", () => {
  const user = {
    id: "2819c223-7f76-453a-919d-413861904646",
    userName: "BJensen",
    externalId: "Bj-1",
    active: true,
    title: "",
    nickName: null,
    name: { givenName: "Barbara", familyName: "Jensen" },
    emails: [
      { value: "bjensen@Example.com", type: "work", primary: true },
      { value: "babs@jensen.org", type: "home" },
    ],
    phoneNumbers: [],
    meta: { created: "2015-10-10T21:38:21.8617979Z", lastModified: "2016-01-01T00:00:00Z" },
    password: "secret",
    [ENTERPRISE_USER_SCHEMA]: { department: "Tour", manager: { value: "boss" } },
  };
  const m = (text: string, opts = {}) => matchesFilter(parseFilter(text, { lenient: true }), user, "User", opts);

  it("honours caseExact: userName folds case, externalId and id do not", () => {
    expect(m('userName eq "bjensen"')).toBe(true);
    expect(m('USERNAME sw "BJ"')).toBe(true);
    expect(m('externalId eq "bj-1"')).toBe(false);
    expect(m('externalId eq "Bj-1"')).toBe(true);
    expect(m('id eq "2819C223-7F76-453A-919D-413861904646"')).toBe(false);
  });

  it("matches a multi-valued attribute when any element matches", () => {
    expect(m('emails.value ew "@example.COM"')).toBe(true);
    expect(m('emails co "jensen.org"')).toBe(true); // the value sub-attribute is implied
    expect(m('emails.type eq "home" and emails.primary eq true')).toBe(true); // different elements
    expect(m('emails[type eq "home" and primary eq true]')).toBe(false); // the same element
    expect(m('emails[type eq "work" and value co "example"]')).toBe(true);
    expect(m('emails.value ne "babs@jensen.org"')).toBe(true);
  });

  it("compares dateTimes as instants", () => {
    expect(m("meta.created gt 2015-10-10T14:38:21.8617970-07:00")).toBe(true);
    expect(m('meta.created eq "2015-10-10T23:38:21.861798+02:00"')).toBe(true);
    expect(m('meta.lastModified lt "2016-01-01T00:00:00.000001Z"')).toBe(true);
    expect(m('meta.lastModified lt "2016-01-01T00:00:00Z"')).toBe(false);
    expect(() => m('meta.created gt "2015-13-01T00:00:00Z"')).toThrow(ScimFilterError);
    expect(() => m('meta.created co "2015"')).toThrow(ScimFilterError);
  });

  it("treats null, empty strings, arrays and objects as absent for pr", () => {
    expect(m("userName pr")).toBe(true);
    expect(m("title pr")).toBe(false);
    expect(m("nickName pr")).toBe(false);
    expect(m("phoneNumbers pr")).toBe(false);
    expect(m("emails pr and name pr")).toBe(true);
    expect(m("displayName pr")).toBe(false);
    expect(m("nickName eq null and not (userName eq null)")).toBe(true);
  });

  it("lets not() match where the attribute is absent", () => {
    expect(m('displayName eq "x"')).toBe(false);
    expect(m('displayName ne "x"')).toBe(false);
    expect(m('not (displayName eq "x")')).toBe(true);
  });

  it("reads extension attributes by URN only", () => {
    expect(m(`${ENTERPRISE_USER_SCHEMA}:department eq "tour"`)).toBe(true);
    expect(m(`${ENTERPRISE_USER_SCHEMA}:manager.value eq "BOSS"`)).toBe(true);
    expect(m('department eq "tour"')).toBe(false);
  });

  it("matches nothing on unknown or never-returned attributes, unless strict", () => {
    expect(m('foo eq "x"')).toBe(false);
    expect(m("not (foo pr)")).toBe(true);
    expect(m('password eq "secret"')).toBe(false);
    expect(() => m('foo eq "x"', { strict: true })).toThrow(/unknown attribute "foo"/);
  });

  it("takes Entra's string booleans and rejects operators a type does not have", () => {
    expect(m('active eq "True"')).toBe(true);
    expect(m("active ne false")).toBe(true);
    expect(() => m("active gt true")).toThrow(ScimFilterError);
    expect(() => m('active eq "yes"')).toThrow(ScimFilterError);
    expect(() => m('name eq "x"')).toThrow(/complex/);
    expect(() => m("userName gt null")).toThrow(ScimFilterError);
  });

  it("evaluates group members", () => {
    const group = { id: "g", displayName: "Admins", members: [{ value: "u1", display: "A" }, { value: "u2" }] };
    expect(matchesFilter(parseFilter('members[value eq "U2"]'), group, "Group")).toBe(true);
    expect(matchesFilter(parseFilter('members.value eq "u3" or displayName eq "admins"'), group, "Group")).toBe(true);
    expect(matchesFilter(parseFilter('userName eq "x"'), group, "Group")).toBe(false);
  });
});
