// The filter compiler: the shape of its SQL, and, against a real Postgres, that it selects
// exactly the rows the in-memory matcher accepts (fixed cases and generated filters).

import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AttrRef, CompareOp, Filter } from "../../platform/scim/ast.ts";
import { formatMicros } from "../../platform/scim/filter-eval.ts";
import { matchesFilter, parseFilter, ScimFilterError } from "../../platform/scim/filter.ts";
import { ENTERPRISE_USER_SCHEMA, type ResourceType } from "../../platform/scim/schema.ts";
import { compileFilter, compileSortKey } from "./scim-filter-sql.ts";

const compile = (text: string, type: ResourceType = "User", params: unknown[] = []) => ({
  sql: compileFilter(parseFilter(text, { lenient: true }), type, params),
  params,
});

describe("compileFilter output", () => {
  it("compares userName case-insensitively through lower(), on the indexed expression", () => {
    expect(compile('userName eq "BJensen"')).toEqual({ sql: "(lower(u.user_name) = lower($1::text))", params: ["BJensen"] });
  });

  it("compares caseExact columns as they are and numbers placeholders after the caller's", () => {
    expect(compile('externalId eq "X1"', "User", ["dir"])).toEqual({ sql: "(u.external_id = $2::text)", params: ["dir", "X1"] });
  });

  it("escapes LIKE metacharacters of the value and never interpolates it", () => {
    const { sql, params } = compile(`displayName co "50%_off\\\\'; drop table users; --"`);
    expect(sql).toBe("(lower(u.display_name) LIKE lower($1::text) ESCAPE '\\')");
    expect(params).toEqual(["%50\\%\\_off\\\\'; drop table users; --%"]);
    expect(compile('displayName sw "a"').params).toEqual(["a%"]);
    expect(compile('displayName ew "a"').params).toEqual(["%a"]);
  });

  it("compares id as uuid and makes a non-uuid value match nothing instead of failing", () => {
    const id = randomUUID();
    expect(compile(`id eq "${id}"`)).toEqual({ sql: "(u.id = $1::uuid)", params: [id] });
    expect(compile('id eq "not-a-uuid"')).toEqual({ sql: "FALSE", params: [] });
    expect(compile('id ne "not-a-uuid"').sql).toBe("(u.id IS NOT NULL)");
    expect(compile('id sw "abc"').sql).toBe("(u.id::text LIKE $1::text ESCAPE '\\')");
  });

  it("maps meta dates to columns with the value as an instant", () => {
    expect(compile("meta.lastModified ge 2015-10-10T14:38:21.8617979-07:00")).toEqual({
      sql: "(u.updated_at >= $1::timestamptz)",
      params: ["2015-10-10T21:38:21.861798Z"],
    });
    expect(() => compile('meta.created gt "yesterday"')).toThrow(ScimFilterError);
  });

  it("reads multi-valued attributes element by element and value filters against the element", () => {
    expect(compile('emails[type eq "work"]').sql).toBe(
      "EXISTS (SELECT 1 FROM jsonb_path_query(u.resource->'emails', 'lax $[*]') AS e1(value) WHERE " +
        "(lower((CASE WHEN jsonb_typeof(e1.value->'type') = 'string' THEN (e1.value->'type') #>> '{}' END)) = lower($1::text)))",
    );
  });

  it("reads extension attributes under their URN key", () => {
    expect(compile(`${ENTERPRISE_USER_SCHEMA}:department pr`).sql).toBe(
      `(u.resource->'${ENTERPRISE_USER_SCHEMA}'->'department' NOT IN ('null'::jsonb, '""'::jsonb, '[]'::jsonb, '{}'::jsonb))`,
    );
  });

  it("keeps absent attributes inside not() with IS NOT TRUE", () => {
    expect(compile("not (active eq true)").sql).toBe("((u.active = $1::boolean) IS NOT TRUE)");
  });

  it("answers group members from the memberships table", () => {
    const id = randomUUID();
    expect(compile(`members.value eq "${id}"`, "Group")).toEqual({
      sql: "EXISTS (SELECT 1 FROM memberships m WHERE m.group_id = g.id AND (m.user_id = $1::uuid))",
      params: [id],
    });
    expect(compile("members pr", "Group").sql).toBe("EXISTS (SELECT 1 FROM memberships m WHERE m.group_id = g.id)");
    expect(() => compile('members.display eq "x"', "Group")).toThrow(/members.value/);
  });

  it("refuses attributes served but not stored (groups, schemas, computed meta), and keeps meta dates", () => {
    for (const [text, type] of [
      ['groups.display eq "x"', "User"],
      ["groups.value pr", "User"],
      ['groups[display eq "x"]', "User"],
      ['groups eq "x"', "User"],
      ['not (groups.type eq "direct")', "User"],
      ['meta.resourceType eq "User"', "User"],
      ['meta.location co "x"', "Group"],
      ['meta.version eq "W/\\"1\\""', "User"],
      ["meta pr", "Group"],
      ["meta[created pr]", "User"],
      ['schemas eq "urn:ietf:params:scim:schemas:core:2.0:Group"', "Group"],
    ] as const) {
      expect(() => compile(text, type), text).toThrow(ScimFilterError);
    }
    expect(compile("meta.created pr").sql).toBe("(u.created_at IS NOT NULL)");
    expect(compile(`${ENTERPRISE_USER_SCHEMA}:manager.value pr`).sql).toContain("manager");
  });

  it("compiles unknown attributes to no match, or rejects them when strict", () => {
    expect(compile('nickname eq "x" or foo eq "y"').sql).toMatch(/ OR FALSE\)$/);
    expect(() => compileFilter(parseFilter('foo eq "y"'), "User", [], { strict: true })).toThrow(ScimFilterError);
  });
});

// ---------------------------------------------------------------------------------------
// Against Postgres

interface PgClient {
  connect(): Promise<void>;
  query(text: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  end(): Promise<void>;
}
// pg is installed (MikroORM's driver) but ships no types and @types/pg is not a dependency.
const { Client } = createRequire(import.meta.url)("pg") as { Client: new (config: { connectionString: string }) => PgClient };
const SERVER = "postgres://postgres@127.0.0.1:5432";
const dbName = `roster_filter_test_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
let db: PgClient;

type Resource = Record<string, unknown> & { id: string };

// Vocabulary shared by the data and the filters, so that comparisons do hit.
const WORDS = ["a", "A", "ab", "aB", "b", "b%c", "x_y", "x\\y", "work", "Work", "home", "é", "É", "zz", "", "a@example.com", "A@Example.COM"];
const INSTANTS = [0, 1, 999, 1000, 1_000_001].map((d) => 1_444_513_101_861_798 + d * 1000);
const word = fc.constantFrom(...WORDS);
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 3 });
// Mostly well-formed values, sometimes null or a wrong type, as older rows might hold.
const odd = <T>(a: fc.Arbitrary<T>) => fc.oneof({ weight: 6, arbitrary: a }, fc.constant(null), fc.constant(42));

const multiValued = (sub: Record<string, fc.Arbitrary<unknown>>) =>
  maybe(fc.oneof({ weight: 5, arbitrary: fc.array(fc.record(sub, { requiredKeys: [] }), { maxLength: 3 }) }, fc.constant(null), fc.record(sub, { requiredKeys: [] })));

const userArb: fc.Arbitrary<Resource> = fc
  .record({
    userName: word,
    displayName: maybe(word),
    externalId: maybe(word),
    active: maybe(fc.boolean()),
    created: fc.constantFrom(...INSTANTS),
    modified: fc.constantFrom(...INSTANTS),
    title: maybe(odd(word)),
    name: maybe(fc.record({ givenName: odd(word), familyName: word }, { requiredKeys: [] })),
    emails: multiValued({ value: odd(word), type: word, primary: odd(fc.boolean()) }),
    addresses: multiValued({ locality: word, type: word }),
    enterprise: maybe(fc.record({ department: odd(word), manager: fc.record({ value: word, displayName: word }, { requiredKeys: [] }) }, { requiredKeys: [] })),
  })
  .map((r) => {
    const resource: Resource = { id: randomUUID(), userName: r.userName, meta: { created: formatMicros(r.created), lastModified: formatMicros(r.modified) } };
    for (const key of ["displayName", "externalId", "active", "title", "name", "emails", "addresses"] as const) {
      if (r[key] !== undefined) resource[key] = r[key];
    }
    if (r.enterprise !== undefined) resource[ENTERPRISE_USER_SCHEMA] = r.enterprise;
    return resource;
  });

let users: Resource[] = [];
let groups: Resource[] = [];

async function selectIds(type: ResourceType, filter: Filter): Promise<string[]> {
  const params: unknown[] = [];
  const where = compileFilter(filter, type, params);
  const table = type === "User" ? "users u" : "groups g";
  const { rows } = await db.query(`SELECT ${type === "User" ? "u" : "g"}.id FROM ${table} WHERE ${where} ORDER BY 1`, params);
  return rows.map((r) => r["id"] as string);
}

const memoryIds = (type: ResourceType, filter: Filter) =>
  (type === "User" ? users : groups)
    .filter((r) => matchesFilter(filter, r, type))
    .map((r) => r.id)
    .sort();

beforeAll(async () => {
  const admin = new Client({ connectionString: `${SERVER}/postgres` });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName} TEMPLATE template0 ENCODING 'UTF8'`);
  await admin.end();
  db = new Client({ connectionString: `${SERVER}/${dbName}` });
  await db.connect();
  await db.query(`
    CREATE TABLE users (id uuid PRIMARY KEY, user_name text NOT NULL, external_id text, display_name text, active boolean,
      created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, resource jsonb NOT NULL);
    CREATE TABLE groups (id uuid PRIMARY KEY, display_name text NOT NULL, external_id text,
      created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, resource jsonb NOT NULL);
    CREATE TABLE memberships (group_id uuid NOT NULL, user_id uuid NOT NULL, PRIMARY KEY (group_id, user_id));`);

  const fixed: Resource[] = [
    {
      id: randomUUID(),
      userName: "BJensen",
      externalId: "bj",
      displayName: "Babs Jensen",
      active: true,
      title: "Tour Guide",
      name: { givenName: "Barbara", familyName: "Jensen" },
      emails: [
        { value: "bjensen@example.com", type: "work", primary: true },
        { value: "babs@jensen.org", type: "home" },
      ],
      meta: { created: "2015-10-10T21:38:21.861798Z", lastModified: "2016-01-01T00:00:00.000000Z" },
      [ENTERPRISE_USER_SCHEMA]: { department: "Tour Operations", manager: { value: "26118915-6090-4610-87e4-49d8ca9f808d" } },
    },
    {
      id: randomUUID(),
      userName: "ojones",
      externalId: "BJ",
      active: false,
      emails: [{ value: "OJ@Example.com", type: "Work" }],
      meta: { created: "2015-10-10T21:38:21.861797Z", lastModified: "2015-10-11T00:00:00.000000Z" },
    },
    { id: randomUUID(), userName: "nobody", meta: { created: "2010-01-01T00:00:00.000000Z", lastModified: "2010-01-01T00:00:00.000000Z" } },
  ];
  users = [...fixed, ...fc.sample(userArb, { numRuns: 60, seed: 7 })];
  for (const u of users) {
    const meta = u["meta"] as { created: string; lastModified: string };
    const text = (v: unknown) => (typeof v === "string" ? v : null);
    await db.query("INSERT INTO users VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", [
      u.id,
      u["userName"],
      text(u["externalId"]),
      text(u["displayName"]),
      typeof u["active"] === "boolean" ? u["active"] : null,
      meta.created,
      meta.lastModified,
      JSON.stringify(u),
    ]);
  }

  const [a, b, c] = users as [Resource, Resource, Resource];
  const group = (displayName: string, members: Resource[], externalId?: string): Resource => ({
    id: randomUUID(),
    displayName,
    ...(externalId === undefined ? {} : { externalId }),
    members: members.map((m) => ({ value: m.id, display: m["userName"] })),
    meta: { created: "2020-01-01T00:00:00.000000Z", lastModified: "2020-01-02T00:00:00.000000Z" },
  });
  groups = [group("Admins", [a, b], "adm"), group("Tour Guides", [a]), group("empty", []), group("Everyone", [a, b, c], "ALL")];
  for (const g of groups) {
    const { members, ...stored } = g; // members live in the memberships table only
    const meta = g["meta"] as { created: string; lastModified: string };
    await db.query("INSERT INTO groups VALUES ($1, $2, $3, $4, $5, $6)", [g.id, g["displayName"], g["externalId"] ?? null, meta.created, meta.lastModified, JSON.stringify(stored)]);
    for (const m of members as { value: string }[]) await db.query("INSERT INTO memberships VALUES ($1, $2)", [g.id, m.value]);
  }
});

afterAll(async () => {
  await db?.end();
  const admin = new Client({ connectionString: `${SERVER}/postgres` });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
});

describe("compiled filters on Postgres", () => {
  const userCases: [string, string[] | undefined][] = [
    ['userName eq "bjensen"', ["BJensen"]],
    ['externalId eq "bj"', ["BJensen"]],
    ['emails.value co "EXAMPLE.COM" and emails.type eq "work"', ["BJensen", "ojones"]],
    ['emails[type eq "work" and value co "@example"]', ["BJensen", "ojones"]],
    ['emails[type eq "home" and value co "@example"]', []],
    ["emails[primary eq true]", ["BJensen"]],
    ['emails co "jensen.org"', ["BJensen"]],
    ["meta.created gt 2015-10-10T14:38:21.861797-07:00", ["BJensen"]],
    ["meta.created ge 2015-10-10T14:38:21.8617970-07:00", ["BJensen", "ojones"]],
    ['meta.created eq "2015-10-10T21:38:21.861798Z"', ["BJensen"]],
    [`${ENTERPRISE_USER_SCHEMA}:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"`, ["BJensen"]],
    [`${ENTERPRISE_USER_SCHEMA.toUpperCase()}:Department sw "tour"`, ["BJensen"]],
    ["not (active eq true)", undefined],
    ['title pr and not (userName eq "x")', undefined],
    ['userName sw O', ["ojones"]],
    ['emails.Value co example.com', undefined],
    ['password eq "x" or unknownThing pr', []],
    ['id eq "not-a-uuid"', []],
    ['name.givenName gt "A" and name.givenName lt "c"', undefined],
    ['userName gt "b"', undefined],
    ['displayName co "%"', undefined],
    ['displayName co "_"', undefined],
    ['displayName co "\\\\"', undefined],
    ['emails eq null', undefined],
    ['addresses[not (locality eq "a")]', undefined],
    ['name[givenName pr or familyName sw "a"]', undefined],
    ['userName eq "é" or userName eq "É"', undefined],
  ];

  for (const [text, expected] of userCases) {
    it(`User: ${text}`, async () => {
      const filter = parseFilter(text, { lenient: true });
      const ids = await selectIds("User", filter);
      expect(ids).toEqual(memoryIds("User", filter));
      if (expected !== undefined) {
        const names = users.filter((u) => ids.includes(u.id)).map((u) => u["userName"]);
        // The generated users may add hits; the named fixtures must be exactly these.
        expect(names.filter((n) => ["BJensen", "ojones", "nobody"].includes(n as string)).sort()).toEqual([...expected].sort());
      }
    });
  }

  it("selects the user by id", async () => {
    const filter = parseFilter(`id eq "${users[1]!.id}"`);
    expect(await selectIds("User", filter)).toEqual([users[1]!.id]);
  });

  it("answers group filters, members included, like the matcher", async () => {
    const [a, b, c] = users as [Resource, Resource, Resource];
    const cases: [string, string[]][] = [
      [`members.value eq "${b.id}"`, ["Admins", "Everyone"]],
      [`members[value eq "${c.id.toUpperCase()}"]`, ["Everyone"]],
      [`members eq "${a.id}" and not (members.value eq "${b.id}")`, ["Tour Guides"]],
      ["not (members pr)", ["empty"]],
      ['displayName eq "admins" or externalId eq "all"', ["Admins"]],
      ['meta.lastModified gt "2020-01-01T23:00:00Z"', ["Admins", "Everyone", "Tour Guides", "empty"]],
    ];
    for (const [text, expected] of cases) {
      const filter = parseFilter(text);
      const ids = await selectIds("Group", filter);
      expect(ids, text).toEqual(memoryIds("Group", filter));
      expect(groups.filter((g) => ids.includes(g.id)).map((g) => g["displayName"]).sort(), text).toEqual(expected.sort());
    }
  });

  it("sorts by sortBy keys: case-folded strings, primary-else-first element, absent last", async () => {
    const fixed = "u.user_name IN ('BJensen', 'ojones', 'nobody')";
    const order = async (attr: AttrRef, type: ResourceType = "User") => {
      const { rows } = await db.query(`SELECT u.user_name FROM users u WHERE ${fixed} ORDER BY ${compileSortKey(attr, type)} ASC NULLS LAST, u.user_name`);
      return rows.map((r) => r["user_name"]);
    };
    expect(await order({ name: "USERNAME" })).toEqual(["BJensen", "nobody", "ojones"]);
    expect(await order({ name: "emails" })).toEqual(["BJensen", "ojones", "nobody"]);
    // "work" and "Work" fold to the same key, so the tie-break (user_name) decides.
    expect(await order({ name: "emails", sub: "type" })).toEqual(["BJensen", "ojones", "nobody"]);
    expect(await order({ name: "meta", sub: "created" })).toEqual(["nobody", "ojones", "BJensen"]);
    expect(await order({ schema: ENTERPRISE_USER_SCHEMA.toLowerCase(), name: "department" })).toEqual(["BJensen", "nobody", "ojones"]);
    expect(compileSortKey({ name: "password" }, "User")).toBe("NULL::text");
    expect(compileSortKey({ name: "members" }, "Group")).toBe("NULL::text");
    expect(compileSortKey({ name: "name" }, "User")).toBe("NULL::text");
    expect(await order({ name: "nope" })).toEqual(["BJensen", "nobody", "ojones"]);
    expect(compileSortKey({ name: "displayName" }, "Group")).toBe("lower(g.display_name)");
    // Every attribute sorts without an SQL error over the generated rows too.
    for (const name of ["userName", "externalId", "active", "title", "emails", "addresses", "phoneNumbers", "groups", "x509Certificates", "id", "password"]) {
      await db.query(`SELECT u.id FROM users u ORDER BY ${compileSortKey({ name }, "User")}`);
    }
    await db.query(`SELECT u.id FROM users u ORDER BY ${compileSortKey({ name: "emails", sub: "primary" }, "User")}`);
  });

  it("agrees with the matcher on generated filters", async () => {
    const ent = ENTERPRISE_USER_SCHEMA.toLowerCase();
    const ref = (name: string, sub?: string, schema?: string) => ({ name, ...(sub ? { sub } : {}), ...(schema ? { schema } : {}) });
    const stringPaths = [
      ref("userName"), ref("USERNAME"), ref("displayName"), ref("externalId"), ref("title"), ref("name", "givenName"),
      ref("emails"), ref("emails", "value"), ref("emails", "type"), ref("addresses", "locality"), ref("department", undefined, ent),
      ref("manager", "value", ent), ref("id"), ref("nope"),
    ];
    const boolPaths = [ref("active"), ref("emails", "primary")];
    const datePaths = [ref("meta", "created"), ref("meta", "lastModified")];
    const allOps: CompareOp[] = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"];
    const dateValue = fc.oneof(
      fc.constantFrom(...INSTANTS).map(formatMicros),
      fc.constantFrom(...INSTANTS).map((m) => formatMicros(m).replace("Z", "+01:00")),
    );
    const leaf: fc.Arbitrary<Filter> = fc.oneof(
      fc.record({ kind: fc.constant("compare" as const), attr: fc.constantFrom(...stringPaths), op: fc.constantFrom(...allOps), value: word }),
      fc.record({ kind: fc.constant("compare" as const), attr: fc.constantFrom(...boolPaths), op: fc.constantFrom<CompareOp>("eq", "ne"), value: fc.boolean() }),
      fc.record({ kind: fc.constant("compare" as const), attr: fc.constantFrom(...datePaths), op: fc.constantFrom<CompareOp>("eq", "ne", "gt", "ge", "lt", "le"), value: dateValue }),
      fc.record({ kind: fc.constant("present" as const), attr: fc.constantFrom(...stringPaths, ...boolPaths, ref("emails"), ref("name"), ref("manager", undefined, ent)) }),
    );
    const inner: fc.Arbitrary<Filter> = fc.letrec<{ f: Filter }>((tie) => ({
      f: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        fc.record({ kind: fc.constant("compare" as const), attr: fc.constantFrom(ref("value"), ref("type"), ref("locality"), ref("givenName")), op: fc.constantFrom(...allOps), value: word }),
        fc.record({ kind: fc.constant("present" as const), attr: fc.constantFrom(ref("value"), ref("primary"), ref("type")) }),
        fc.record({ kind: fc.constantFrom("and" as const, "or" as const), left: tie("f"), right: tie("f") }),
        fc.record({ kind: fc.constant("not" as const), filter: tie("f") }),
      ),
    })).f;
    const filterArb: fc.Arbitrary<Filter> = fc.letrec<{ f: Filter }>((tie) => ({
      f: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        leaf,
        fc.record({ kind: fc.constant("valuePath" as const), attr: fc.constantFrom(ref("emails"), ref("addresses"), ref("name")), filter: inner }),
        fc.record({ kind: fc.constantFrom("and" as const, "or" as const), left: tie("f"), right: tie("f") }),
        fc.record({ kind: fc.constant("not" as const), filter: tie("f") }),
      ),
    })).f;

    await fc.assert(
      fc.asyncProperty(filterArb, async (filter) => {
        expect(await selectIds("User", filter)).toEqual(memoryIds("User", filter));
      }),
      { numRuns: 400 },
    );
  });
});
