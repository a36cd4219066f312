// Tenancy: a SCIM token is bound to one directory. On every route, directory A's token can
// neither read nor change directory B's users, groups or memberships; and requests without a
// valid token are refused with 401 before anything else happens.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DirectoryService, DirectoryState, ProviderKind } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { queryDatabase } from "../testing/database.ts";
import { startTestRoster, type TestRoster } from "../testing/roster.ts";
import {
  BULK_REQUEST,
  createScimDirectory,
  ERROR_SCHEMA,
  GROUP_SCHEMA,
  patchOp,
  scimRequest,
  SEARCH_REQUEST,
  USER_SCHEMA,
  type ScimDirectory,
  type ScimResult,
} from "../testing/scim.ts";

let t: TestRoster;
let a: ScimDirectory;
let b: ScimDirectory;
// B's resources.
let bUser: string;
let bUser2: string;
let bGroup: string;
const bUserName = "shared@example.com";
const bExternalId = randomUUID();
const bDeletedExternalId = randomUUID();
let bDeletedUser: string;
// A's resources.
let aUser: string;
let aGroup: string;

/** Everything stored for directory B, to compare before and after A's attempts. */
async function snapshotOf(directoryId: string): Promise<unknown> {
  const q = (sql: string) => queryDatabase(t.database.url, sql, [directoryId]);
  return {
    users: await q("SELECT id, user_name, external_id, active, state, resource, version, updated_at, deleted_at FROM users WHERE directory_id = $1 ORDER BY id"),
    groups: await q("SELECT id, display_name, resource, member_count, version, updated_at, deleted_at FROM groups WHERE directory_id = $1 ORDER BY id"),
    memberships: await q("SELECT group_id, user_id FROM memberships WHERE directory_id = $1 ORDER BY group_id, user_id"),
    events: await q("SELECT id FROM outbox_events WHERE directory_id = $1 ORDER BY seq"),
  };
}

function expectScimError(res: ScimResult, status: number): void {
  expect(res.status, `${status} expected, got ${res.status}: ${res.text}`).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/scim\+json/);
  expect(res.body).toMatchObject({ schemas: [ERROR_SCHEMA], status: String(status) });
}

const idsIn = (res: ScimResult): string[] => (res.body.Resources as Array<{ id: string }>).map((r) => r.id);
const bIds = () => [bUser, bUser2, bGroup, bDeletedUser];

beforeAll(async () => {
  // Every route is probed with refused tokens, far beyond the per-address refusal limit.
  t = await startTestRoster({ ROSTER_SCIM_REFUSED_AUTH_RATE: "0" });
  a = await createScimDirectory(t, ProviderKind.ENTRA);
  b = await createScimDirectory(t, ProviderKind.OKTA);
  bUser = (await b.scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: bUserName, externalId: bExternalId, displayName: "B one" })).body.id;
  bUser2 = (await b.scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: "b2@example.com", displayName: "B two" })).body.id;
  bDeletedUser = (await b.scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: "gone@example.com", externalId: bDeletedExternalId })).body.id;
  expect((await b.scim("DELETE", `/Users/${bDeletedUser}`)).status).toBe(204);
  bGroup = (await b.scim("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: "B group", members: [{ value: bUser }] })).body.id;
  aUser = (await a.scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: "a1@example.com", displayName: "A one" })).body.id;
  aGroup = (await a.scim("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: "A group", members: [{ value: aUser }] })).body.id;
  for (const id of bIds()) expect(id).toMatch(/^[0-9a-f-]{36}$/);
});

afterAll(async () => {
  await t?.stop();
});

describe("A's token against B's resources", () => {
  let before: unknown;
  beforeAll(async () => {
    before = await snapshotOf(b.id);
  });

  it("discovery serves nothing directory-specific", async () => {
    for (const path of ["/ServiceProviderConfig", "/ResourceTypes", "/ResourceTypes/User", "/Schemas", `/Schemas/${USER_SCHEMA}`]) {
      const res = await a.scim("GET", path);
      expect(res.status, path).toBe(200);
      for (const id of bIds()) expect(res.text).not.toContain(id);
      expect(res.text).not.toContain(b.id);
    }
  });

  it("user and group lists never contain B's resources", async () => {
    const users = await a.scim("GET", "/Users?count=1000");
    expect(idsIn(users)).toEqual([aUser]);
    expect(users.body.totalResults).toBe(1);
    const groups = await a.scim("GET", "/Groups?count=1000");
    expect(idsIn(groups)).toEqual([aGroup]);
    const filters = [
      `userName eq "${bUserName}"`,
      `externalId eq "${bExternalId}"`,
      `id eq "${bUser}"`,
      `displayName eq "B one"`,
      `userName pr`,
      `userName sw "b"`,
    ];
    for (const filter of filters) {
      const res = await a.scim("GET", `/Users?filter=${encodeURIComponent(filter)}`);
      expect(res.status, filter).toBe(200);
      for (const id of bIds()) expect(res.text, filter).not.toContain(id);
    }
    const byName = await a.scim("GET", `/Groups?filter=${encodeURIComponent('displayName eq "B group"')}`);
    expect(byName.body.totalResults).toBe(0);
    const byMember = await a.scim("GET", `/Groups?filter=${encodeURIComponent(`members.value eq "${bUser}"`)}`);
    if (byMember.status === 200) expect(byMember.body.totalResults).toBe(0);
    // Cursor paging too.
    const cursor = await a.scim("GET", "/Users?cursor=&count=1");
    expect(idsIn(cursor)).toEqual([aUser]);
    expect(cursor.body.nextCursor).toBeUndefined();
    // A's user shows only A's groups; B's group shows nowhere.
    expect((await a.scim("GET", `/Users/${aUser}`)).text).not.toContain(bGroup);
  });

  it(".search variants never contain B's resources", async () => {
    for (const path of ["/Users/.search", "/Groups/.search", "/.search"]) {
      const all = await a.scim("POST", path, { schemas: [SEARCH_REQUEST], count: 1000 });
      expect(all.status, path).toBe(200);
      for (const id of bIds()) expect(all.text, path).not.toContain(id);
      expect(all.body.totalResults, path).toBe(path === "/.search" ? 2 : 1);
    }
    const filtered = await a.scim("POST", "/Users/.search", { schemas: [SEARCH_REQUEST], filter: `userName eq "${bUserName}"` });
    expect(filtered.body.totalResults).toBe(0);
  });

  it("GET, PUT, PATCH and DELETE of B's users answer 404", async () => {
    for (const id of [bUser, bUser2, bDeletedUser]) {
      expectScimError(await a.scim("GET", `/Users/${id}`), 404);
      expectScimError(await a.scim("GET", `/Users/${id}`, undefined, { headers: { "if-none-match": 'W/"1"' } }), 404);
      expectScimError(await a.scim("PUT", `/Users/${id}`, { schemas: [USER_SCHEMA], userName: "hijack@example.com" }), 404);
      expectScimError(await a.scim("PUT", `/Users/${id}`, { schemas: [USER_SCHEMA], userName: "hijack@example.com" }, { headers: { "if-match": 'W/"1"' } }), 404);
      expectScimError(await a.scim("PATCH", `/Users/${id}`, patchOp({ op: "Replace", path: "active", value: "False" })), 404);
      expectScimError(await a.scim("PATCH", `/Users/${id}`, patchOp({ op: "replace", value: { active: false } }), { headers: { "if-match": 'W/"1"' } }), 404);
      expectScimError(await a.scim("DELETE", `/Users/${id}`), 404);
      // Upper-case ids are the same ids.
      expectScimError(await a.scim("GET", `/Users/${id.toUpperCase()}`), 404);
    }
  });

  it("GET, PUT, PATCH and DELETE of B's group answer 404", async () => {
    expectScimError(await a.scim("GET", `/Groups/${bGroup}`), 404);
    expectScimError(await a.scim("GET", `/Groups/${bGroup}?excludedAttributes=members`), 404);
    expectScimError(await a.scim("PUT", `/Groups/${bGroup}`, { schemas: [GROUP_SCHEMA], displayName: "hijacked", members: [{ value: aUser }] }), 404);
    expectScimError(await a.scim("PATCH", `/Groups/${bGroup}`, patchOp({ op: "add", path: "members", value: [{ value: aUser }] })), 404);
    expectScimError(await a.scim("PATCH", `/Groups/${bGroup}`, patchOp({ op: "remove", path: `members[value eq "${bUser}"]` })), 404);
    expectScimError(await a.scim("PATCH", `/Groups/${bGroup}`, patchOp({ op: "replace", path: "members", value: [] })), 404);
    expectScimError(await a.scim("PATCH", `/Groups/${bGroup}`, patchOp({ op: "replace", value: { displayName: "hijacked" } })), 404);
    expectScimError(await a.scim("DELETE", `/Groups/${bGroup}`), 404);
  });

  it("cannot pull B's users into A's groups", async () => {
    const add = await a.scim("PATCH", `/Groups/${aGroup}`, patchOp({ op: "add", path: "members", value: [{ value: bUser }] }));
    expect(add.status).toBe(400);
    const put = await a.scim("PUT", `/Groups/${aGroup}`, { schemas: [GROUP_SCHEMA], displayName: "A group", members: [{ value: aUser }, { value: bUser2 }] });
    expect(put.status).toBe(400);
    const create = await a.scim("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: "A second", members: [{ value: bUser }] });
    expect(create.status).toBe(400);
    // Removing B's user from A's group touches nothing of B's.
    const remove = await a.scim("PATCH", `/Groups/${aGroup}`, patchOp({ op: "remove", path: `members[value eq "${bUser}"]` }));
    expect([204, 400]).toContain(remove.status);
    const members = await queryDatabase<{ user_id: string }>(t.database.url, "SELECT user_id FROM memberships WHERE group_id = $1", [aGroup]);
    expect(members.map((m) => m.user_id)).toEqual([aUser]);
  });

  it("/Bulk reaches none of B's resources", async () => {
    const res = await a.scim("POST", "/Bulk", {
      schemas: [BULK_REQUEST],
      Operations: [
        { method: "PUT", path: `/Users/${bUser}`, data: { schemas: [USER_SCHEMA], userName: "hijack@example.com" } },
        { method: "PATCH", path: `/Users/${bUser2}`, data: patchOp({ op: "replace", path: "active", value: false }) },
        { method: "DELETE", path: `/Users/${bUser}` },
        { method: "PATCH", path: `/Groups/${bGroup}`, data: patchOp({ op: "add", path: "members", value: [{ value: aUser }] }) },
        { method: "PUT", path: `/Groups/${bGroup}`, data: { schemas: [GROUP_SCHEMA], displayName: "hijacked" } },
        { method: "DELETE", path: `/Groups/${bGroup}` },
        { method: "POST", path: "/Groups", bulkId: "g", data: { schemas: [GROUP_SCHEMA], displayName: "bulk", members: [{ value: bUser }] } },
        { method: "PATCH", path: `/Groups/${aGroup}`, data: patchOp({ op: "add", path: "members", value: [{ value: bUser2 }] }) },
      ],
    });
    expect(res.status).toBe(200);
    const statuses = (res.body.Operations as Array<{ status: string }>).map((o) => o.status);
    expect(statuses).toEqual(["404", "404", "404", "404", "404", "404", "400", "400"]);
  });

  it("the same userName and a B tombstone's externalId make A's own users, never B's", async () => {
    const same = await a.scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: bUserName, externalId: bExternalId });
    expect(same.status).toBe(201);
    expect(bIds()).not.toContain(same.body.id);
    // B deleted a user with this externalId; A creating one must not relink B's tombstone.
    const relink = await a.scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: "relink@example.com", externalId: bDeletedExternalId });
    expect(relink.status).toBe(201);
    expect(relink.body.id).not.toBe(bDeletedUser);
    const [row] = await queryDatabase<{ directory_id: string }>(t.database.url, "SELECT directory_id FROM users WHERE id = $1", [relink.body.id]);
    expect(row!.directory_id).toBe(a.id);
  });

  it("left B's state exactly as it was", async () => {
    expect(await snapshotOf(b.id)).toEqual(before);
    // And B still sees its own resources.
    expect((await b.scim("GET", `/Users/${bUser}`)).status).toBe(200);
    expect((await b.scim("GET", `/Groups/${bGroup}`)).body.members.map((m: { value: string }) => m.value)).toEqual([bUser]);
  });
});

describe("authentication", () => {
  const routes: Array<[string, string, unknown?]> = [
    ["GET", "/ServiceProviderConfig"],
    ["GET", "/ResourceTypes"],
    ["GET", "/Schemas"],
    ["GET", "/Users"],
    ["POST", "/Users", { schemas: [USER_SCHEMA], userName: "nobody@example.com" }],
    ["GET", `/Users/${randomUUID()}`],
    ["PUT", `/Users/${randomUUID()}`, { schemas: [USER_SCHEMA], userName: "nobody@example.com" }],
    ["PATCH", `/Users/${randomUUID()}`, patchOp({ op: "replace", path: "active", value: false })],
    ["DELETE", `/Users/${randomUUID()}`],
    ["GET", "/Groups"],
    ["POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: "nobody" }],
    ["GET", `/Groups/${randomUUID()}`],
    ["PUT", `/Groups/${randomUUID()}`, { schemas: [GROUP_SCHEMA], displayName: "nobody" }],
    ["PATCH", `/Groups/${randomUUID()}`, patchOp({ op: "replace", path: "displayName", value: "x" })],
    ["DELETE", `/Groups/${randomUUID()}`],
    ["POST", "/Users/.search", { schemas: [SEARCH_REQUEST] }],
    ["POST", "/Groups/.search", { schemas: [SEARCH_REQUEST] }],
    ["POST", "/.search", { schemas: [SEARCH_REQUEST] }],
    ["POST", "/Bulk", { schemas: [BULK_REQUEST], Operations: [{ method: "POST", path: "/Users", bulkId: "x", data: { userName: "nobody@example.com" } }] }],
    ["GET", "/NoSuchEndpoint"],
  ];

  async function expectUnauthorized(token: string | null, headers: Record<string, string> = {}): Promise<void> {
    for (const [method, path, body] of routes) {
      const res = await scimRequest(t.url, token, method, path, body, { headers });
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.headers.get("www-authenticate"), `${method} ${path}`).toMatch(/^Bearer /);
      expect(res.headers.get("content-type")).toMatch(/^application\/scim\+json/);
      expect(res.body).toMatchObject({ schemas: [ERROR_SCHEMA], status: "401" });
      expect(res.body.detail).toEqual(expect.any(String));
    }
  }

  it("refuses a request without a token", async () => {
    await expectUnauthorized(null);
    await expectUnauthorized(null, { authorization: "Basic dXNlcjpwYXNz" });
    await expectUnauthorized(null, { authorization: "Bearer" });
  });

  it("refuses a malformed, forged or non-SCIM token", async () => {
    await expectUnauthorized("nonsense");
    await expectUnauthorized(`${a.secret.slice(0, -4)}AAAA`);
    // An admin API key is not a SCIM token.
    await expectUnauthorized(t.adminKey);
  });

  it("refuses a revoked token and a suspended directory's token, and changes nothing", async () => {
    const c = await createScimDirectory(t, ProviderKind.GENERIC);
    const cUser: string = (await c.scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: "c@example.com" })).body.id;
    const admin = t.client(DirectoryService);
    await admin.revokeScimToken({ directoryId: c.id, id: c.tokenId });
    await expectUnauthorized(c.secret);
    const users = await queryDatabase(t.database.url, "SELECT 1 FROM users WHERE directory_id = $1", [c.id]);
    expect(users).toHaveLength(1);
    expect((await queryDatabase(t.database.url, "SELECT version FROM users WHERE id = $1", [cUser]))[0]).toEqual({ version: "1" });

    const { secret } = await admin.createScimToken({ directoryId: c.id, name: "second" });
    expect((await scimRequest(t.url, secret, "GET", `/Users/${cUser}`)).status).toBe(200);
    await admin.updateDirectory({ id: c.id, state: DirectoryState.SUSPENDED });
    await expectUnauthorized(secret);
    await admin.updateDirectory({ id: c.id, state: DirectoryState.ACTIVE });
    expect((await scimRequest(t.url, secret, "GET", `/Users/${cUser}`)).status).toBe(200);
  });

  it("never logs a token", () => {
    const logs = t.logs.join("");
    expect(logs).not.toContain(a.secret);
    expect(logs).not.toContain(b.secret);
  });
});
