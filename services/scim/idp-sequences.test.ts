// Each IdP's documented request sequence over real HTTP against real Postgres: the response,
// the stored state and the events in the outbox (type, subject, per-subject sequence +1).
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProviderKind } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { queryDatabase } from "../testing/database.ts";
import { startTestRoster, type TestRoster } from "../testing/roster.ts";
import {
  BULK_REQUEST,
  checkContiguous,
  createScimDirectory,
  ENTERPRISE,
  ERROR_SCHEMA,
  eventsOf,
  GROUP_SCHEMA,
  LIST_SCHEMA,
  patchOp,
  USER_SCHEMA,
  type ScimDirectory,
} from "../testing/scim.ts";

const MAX_BODY = 4096;
let t: TestRoster;

beforeAll(async () => {
  t = await startTestRoster({ ROSTER_MAX_BODY_BYTES: String(MAX_BODY) });
});

afterAll(async () => {
  await t?.stop();
});

const db = <T extends Record<string, unknown>>(sql: string, params: unknown[] = []) => queryDatabase<T>(t.database.url, sql, params);

async function userRow(id: string) {
  const [row] = await db<{ user_name: string; external_id: string | null; active: boolean; state: string; version: string; deleted_at: Date | null; resource: Record<string, unknown> }>(
    "SELECT user_name, external_id, active, state, version, deleted_at, resource FROM users WHERE id = $1",
    [id],
  );
  return row;
}

async function groupRow(id: string) {
  const [row] = await db<{ display_name: string; member_count: string; version: string; deleted_at: Date | null; resource: Record<string, unknown> }>(
    "SELECT display_name, member_count, version, deleted_at, resource FROM groups WHERE id = $1",
    [id],
  );
  return row;
}

async function memberIds(groupId: string): Promise<string[]> {
  return (await db<{ user_id: string }>("SELECT user_id FROM memberships WHERE group_id = $1 ORDER BY user_id", [groupId])).map((r) => r.user_id);
}

/** The subject's event types, after checking sequences run 1..n in commit order. */
async function eventTypes(subjectId: string): Promise<string[]> {
  const events = await eventsOf(t, subjectId);
  checkContiguous(events);
  return events.map((e) => e.type);
}

/** The stored version equals the last event's sequence. */
async function expectVersionMatchesEvents(table: "users" | "groups", id: string): Promise<void> {
  const events = await eventsOf(t, id);
  const [row] = await db<{ version: string }>(`SELECT version FROM ${table} WHERE id = $1`, [id]);
  expect(Number(row!.version)).toBe(events.length);
}

function expectScimError(res: { status: number; headers: Headers; body: unknown }, status: number, scimType?: string): void {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/scim\+json/);
  const body = res.body as Record<string, unknown>;
  expect(body.schemas).toEqual([ERROR_SCHEMA]);
  expect(body.status).toBe(String(status));
  if (scimType !== undefined) expect(body.scimType).toBe(scimType);
  expect(typeof body.detail).toBe("string");
}

const oktaUser = (userName: string, extra: Record<string, unknown> = {}) => ({
  schemas: [USER_SCHEMA],
  userName,
  name: { givenName: "Ada", familyName: "Lovelace" },
  emails: [{ primary: true, value: userName, type: "work" }],
  displayName: "Ada Lovelace",
  locale: "en-US",
  externalId: `okta-${userName}`,
  groups: [],
  password: "Plac3h0lder!Secret#42",
  active: true,
  ...extra,
});

describe("Okta", () => {
  let dir: ScimDirectory;
  beforeAll(async () => {
    dir = await createScimDirectory(t, ProviderKind.OKTA);
  });

  it("looks up, creates, updates with PUT, deactivates and reactivates a user", async () => {
    const userName = "ada@example.com";
    const lookup = await dir.scim("GET", `/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}&startIndex=1&count=100`);
    expect(lookup.status).toBe(200);
    expect(lookup.headers.get("content-type")).toMatch(/^application\/scim\+json/);
    expect(lookup.body).toMatchObject({ schemas: [LIST_SCHEMA], totalResults: 0, Resources: [] });

    const create = await dir.scim("POST", "/Users", oktaUser(userName));
    expect(create.status).toBe(201);
    const id: string = create.body.id;
    expect(create.headers.get("location")).toBe(`${t.url}/scim/v2/Users/${id}`);
    expect(create.headers.get("etag")).toBe('W/"1"');
    expect(create.body.meta.version).toBe('W/"1"');
    expect(create.body.password).toBeUndefined();
    expect(create.body).toMatchObject({ userName, active: true, name: { givenName: "Ada" } });

    // The placeholder password is stored nowhere: not in the user row, not in any event.
    const leaks = await db<{ n: string }>(
      `SELECT (SELECT count(*) FROM users WHERE resource::text LIKE '%Plac3h0lder%') + (SELECT count(*) FROM outbox_events WHERE payload::text LIKE '%Plac3h0lder%') AS n`,
    );
    expect(Number(leaks[0]!.n)).toBe(0);
    expect(t.logs.join("")).not.toContain("Plac3h0lder");

    const found = await dir.scim("GET", `/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`);
    expect(found.body.totalResults).toBe(1);
    expect(found.body.Resources[0].id).toBe(id);

    // Okta re-sends the whole profile with PUT, id and password included.
    const put = await dir.scim("PUT", `/Users/${id}`, { ...oktaUser(userName), id, name: { givenName: "Ada", familyName: "King" }, displayName: "Ada King" });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ id, displayName: "Ada King", name: { familyName: "King" } });
    expect(put.headers.get("etag")).toBe('W/"2"');
    expect((await userRow(id))!.resource).toMatchObject({ displayName: "Ada King" });
    expect((await userRow(id))!.resource).not.toHaveProperty("password");

    // The same PUT again changes nothing: no event, no version bump.
    const again = await dir.scim("PUT", `/Users/${id}`, { ...oktaUser(userName), id, name: { givenName: "Ada", familyName: "King" }, displayName: "Ada King" });
    expect(again.status).toBe(200);
    expect(again.headers.get("etag")).toBe('W/"2"');

    const deactivate = await dir.scim("PATCH", `/Users/${id}`, patchOp({ op: "replace", value: { active: false } }));
    expect(deactivate.status).toBe(200);
    expect(deactivate.body.active).toBe(false);
    expect(await userRow(id)).toMatchObject({ active: false, state: "inactive", version: "3" });

    const reactivate = await dir.scim("PATCH", `/Users/${id}`, patchOp({ op: "replace", value: { active: true } }));
    expect(reactivate.status).toBe(200);
    expect(reactivate.body.active).toBe(true);
    expect(await userRow(id)).toMatchObject({ active: true, state: "active", version: "4" });

    expect(await eventTypes(id)).toEqual(["user.created", "user.updated", "user.deactivated", "user.reactivated"]);
    const events = await eventsOf(t, id);
    expect(events.every((e) => e.subject_type === "user" && e.directory_id === dir.id)).toBe(true);
    expect(events[1]!.payload.changedAttributes).toEqual(expect.arrayContaining(["displayName", "name"]));
    expect(events[2]!.payload.user).toMatchObject({ id, active: false, version: 3 });
    await expectVersionMatchesEvents("users", id);
  });

  it("refuses a retried POST of the same userName with 409 uniqueness and keeps one user", async () => {
    const userName = "retry@example.com";
    const first = await dir.scim("POST", "/Users", oktaUser(userName));
    expect(first.status).toBe(201);
    const second = await dir.scim("POST", "/Users", oktaUser(userName));
    expectScimError(second, 409, "uniqueness");
    // userName uniqueness is case-insensitive.
    expectScimError(await dir.scim("POST", "/Users", oktaUser("RETRY@example.com")), 409, "uniqueness");
    const rows = await db<{ id: string }>("SELECT id FROM users WHERE directory_id = $1 AND lower(user_name) = $2", [dir.id, userName]);
    expect(rows.map((r) => r.id)).toEqual([first.body.id]);
    expect(await eventTypes(first.body.id)).toEqual(["user.created"]);
  });

  it("pushes a group: create, add members, remove by filter, re-send the name, replace members []", async () => {
    const ids: string[] = [];
    for (const name of ["g1", "g2", "g3"]) ids.push((await dir.scim("POST", "/Users", oktaUser(`${name}@example.com`))).body.id);
    const [u1, u2, u3] = ids as [string, string, string];

    const create = await dir.scim("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: "Engineering", members: [] });
    expect(create.status).toBe(201);
    const gid: string = create.body.id;
    expect(create.body.displayName).toBe("Engineering");
    // An empty multi-valued attribute is unassigned, and unassigned attributes are omitted.
    expect(create.body.members ?? []).toEqual([]);

    const add = await dir.scim(
      "PATCH",
      `/Groups/${gid}`,
      patchOp({ op: "add", path: "members", value: ids.map((value) => ({ value, display: value })) }),
    );
    // Group PATCH answers 204 (RFC 7644 3.5.2), as Okta expects; the stored state is what counts.
    expect(add.status).toBe(204);
    expect(add.headers.get("etag")).toBe('W/"2"');
    expect(await memberIds(gid)).toEqual([...ids].sort());
    expect(await groupRow(gid)).toMatchObject({ member_count: "3", version: "2" });

    // Okta re-sends the group name alongside membership updates.
    const remove = await dir.scim(
      "PATCH",
      `/Groups/${gid}`,
      patchOp({ op: "replace", value: { id: gid, displayName: "Engineering" } }, { op: "remove", path: `members[value eq "${u2}"]` }),
    );
    expect(remove.status).toBe(204);
    expect(await memberIds(gid)).toEqual([u1, u3].sort());
    expect(await groupRow(gid)).toMatchObject({ member_count: "2", version: "3", display_name: "Engineering" });

    // The name alone, re-sent: harmless, no event, no version change.
    const rename = await dir.scim("PATCH", `/Groups/${gid}`, patchOp({ op: "replace", value: { id: gid, displayName: "Engineering" } }));
    expect(rename.status).toBe(204);
    expect(rename.headers.get("etag")).toBe('W/"3"');

    // Asking for a representation gets one.
    const empty = await dir.scim("PATCH", `/Groups/${gid}?attributes=members,displayName`, patchOp({ op: "replace", path: "members", value: [] }));
    expect(empty.status).toBe(200);
    expect(empty.body.displayName).toBe("Engineering");
    expect(empty.body.members ?? []).toEqual([]);
    expect(empty.headers.get("etag")).toBe('W/"4"');
    expect(await memberIds(gid)).toEqual([]);
    expect(await groupRow(gid)).toMatchObject({ member_count: "0", version: "4" });

    expect(await eventTypes(gid)).toEqual(["group.created", "group.members_added", "group.members_removed", "group.members_removed"]);
    const groupEvents = await eventsOf(t, gid);
    expect(groupEvents[2]!.payload.userIds).toEqual([u2]);
    expect([...groupEvents[3]!.payload.userIds].sort()).toEqual([u1, u3].sort());
    expect(await eventTypes(u1)).toEqual(["user.created", "user.added_to_group", "user.removed_from_group"]);
    expect(await eventTypes(u2)).toEqual(["user.created", "user.added_to_group", "user.removed_from_group"]);
    expect((await eventsOf(t, u2))[1]!.payload.group).toMatchObject({ id: gid, displayName: "Engineering" });
    for (const id of ids) await expectVersionMatchesEvents("users", id);
    await expectVersionMatchesEvents("groups", gid);

    // A user's groups show on the user (read-only attribute).
    await dir.scim("PATCH", `/Groups/${gid}`, patchOp({ op: "add", path: "members", value: [{ value: u3 }] }));
    const user = await dir.scim("GET", `/Users/${u3}`);
    expect(user.body.groups).toEqual([expect.objectContaining({ value: gid, display: "Engineering" })]);
  });
});

describe("Entra ID", () => {
  let dir: ScimDirectory;
  beforeAll(async () => {
    dir = await createScimDirectory(t, ProviderKind.ENTRA);
  });

  const entraUser = (externalId: string, userName: string) => ({
    schemas: [USER_SCHEMA, ENTERPRISE],
    externalId,
    userName,
    active: true,
    displayName: "Grace Hopper",
    emails: [{ primary: true, type: "work", value: userName }],
    name: { formatted: "Grace Hopper", familyName: "Hopper", givenName: "Grace" },
    [ENTERPRISE]: { department: "Navy", employeeNumber: "1906" },
  });

  it("answers Test Connection with an empty list", async () => {
    const res = await dir.scim("GET", `/Users?filter=${encodeURIComponent(`userName eq "${randomUUID()}"`)}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ schemas: [LIST_SCHEMA], totalResults: 0, Resources: [] });
  });

  it("creates, patches with Entra's quirks, soft-deletes, deletes and relinks a user", async () => {
    const externalId = randomUUID();
    const create = await dir.scim("POST", "/Users", entraUser(externalId, "grace@example.com"));
    expect(create.status).toBe(201);
    const id: string = create.body.id;
    expect(create.body[ENTERPRISE]).toMatchObject({ department: "Navy" });

    const byExternalId = await dir.scim("GET", `/Users?filter=${encodeURIComponent(`externalId eq "${externalId}"`)}`);
    expect(byExternalId.body.totalResults).toBe(1);
    expect(byExternalId.body.Resources[0].id).toBe(id);
    const both = await dir.scim("GET", `/Users?filter=${encodeURIComponent(`externalId eq "${externalId}" and userName eq "grace@example.com"`)}`);
    expect(both.body.Resources.map((r: { id: string }) => r.id)).toEqual([id]);

    // Capitalised ops, path-less replace with dotted keys and the extension URN as a key.
    const profile = await dir.scim(
      "PATCH",
      `/Users/${id}`,
      patchOp(
        { op: "Replace", value: { "name.givenName": "Amazing Grace", [`${ENTERPRISE}:department`]: "Computing" } },
        { op: "Add", path: `emails[type eq "work"].value`, value: "grace.hopper@example.com" },
      ),
    );
    expect(profile.status).toBe(204);
    expect(profile.text).toBe("");
    expect(profile.headers.get("etag")).toBe('W/"2"');
    const afterProfile = await userRow(id);
    expect(afterProfile!.resource).toMatchObject({
      name: { givenName: "Amazing Grace", familyName: "Hopper" },
      [ENTERPRISE]: { department: "Computing", employeeNumber: "1906" },
      emails: [expect.objectContaining({ type: "work", value: "grace.hopper@example.com" })],
    });
    expect(afterProfile!.resource).not.toHaveProperty(["name.givenName"]);

    // Soft delete: active "False" as a string.
    const soft = await dir.scim("PATCH", `/Users/${id}`, patchOp({ op: "Replace", path: "active", value: "False" }));
    expect(soft.status).toBe(204);
    expect(await userRow(id)).toMatchObject({ active: false, state: "inactive", version: "3" });
    const got = await dir.scim("GET", `/Users/${id}`);
    expect(got.body.active).toBe(false);
    expect(got.headers.get("etag")).toBe(got.body.meta.version);

    const del = await dir.scim("DELETE", `/Users/${id}`);
    expect(del.status).toBe(204);
    expectScimError(await dir.scim("GET", `/Users/${id}`), 404);
    expect((await dir.scim("GET", `/Users?filter=${encodeURIComponent(`externalId eq "${externalId}"`)}`)).body.totalResults).toBe(0);
    expectScimError(await dir.scim("DELETE", `/Users/${id}`), 404);
    expect(await userRow(id)).toMatchObject({ state: "deleted", active: false, version: "4" });
    expect((await userRow(id))!.deleted_at).not.toBeNull();

    // Entra provisions the same person again: same id, history continues.
    const again = await dir.scim("POST", "/Users", entraUser(externalId, "grace@example.com"));
    expect(again.status).toBe(201);
    expect(again.body.id).toBe(id);
    expect(again.headers.get("etag")).toBe('W/"5"');
    expect((await userRow(id))!.deleted_at).toBeNull();
    expect(await eventTypes(id)).toEqual(["user.created", "user.updated", "user.deactivated", "user.deleted", "user.created"]);
    const events = await eventsOf(t, id);
    expect(events[0]!.payload.relinked).toBeUndefined();
    expect(events[4]!.payload.relinked).toBe(true);
    expect(events[3]!.payload.user).toMatchObject({ id, state: "deleted" });
    await expectVersionMatchesEvents("users", id);
  });

  it("manages groups: remove members with a value array, excludedAttributes=members, 204 PATCH", async () => {
    const a = (await dir.scim("POST", "/Users", entraUser(randomUUID(), "m1@example.com"))).body.id as string;
    const b = (await dir.scim("POST", "/Users", entraUser(randomUUID(), "m2@example.com"))).body.id as string;
    const create = await dir.scim("POST", "/Groups", { schemas: [GROUP_SCHEMA], externalId: randomUUID(), displayName: "Ops", members: [{ value: a }, { value: b }] });
    expect(create.status).toBe(201);
    const gid: string = create.body.id;
    expect(await memberIds(gid)).toEqual([a, b].sort());

    const list = await dir.scim("GET", `/Groups?excludedAttributes=members&filter=${encodeURIComponent('displayName eq "Ops"')}`);
    expect(list.status).toBe(200);
    expect(list.body.Resources).toHaveLength(1);
    expect(list.body.Resources[0]).not.toHaveProperty("members");
    const one = await dir.scim("GET", `/Groups/${gid}?excludedAttributes=members`);
    expect(one.body).not.toHaveProperty("members");
    expect(one.body.displayName).toBe("Ops");

    const remove = await dir.scim("PATCH", `/Groups/${gid}`, patchOp({ op: "Remove", path: "members", value: [{ value: a }] }));
    expect(remove.status).toBe(204);
    expect(await memberIds(gid)).toEqual([b]);
    expect(await groupRow(gid)).toMatchObject({ member_count: "1" });

    const addBack = await dir.scim("PATCH", `/Groups/${gid}`, patchOp({ op: "Add", path: "members", value: [{ value: a }] }));
    expect(addBack.status).toBe(204);
    expect(await memberIds(gid)).toEqual([a, b].sort());

    // Deleting a member user removes it from the group, as a fact on both sides.
    expect((await dir.scim("DELETE", `/Users/${a}`)).status).toBe(204);
    expect(await memberIds(gid)).toEqual([b]);
    expect(await groupRow(gid)).toMatchObject({ member_count: "1" });
    expect(await eventTypes(gid)).toEqual(["group.created", "group.members_removed", "group.members_added", "group.members_removed"]);
    expect(await eventTypes(a)).toEqual(["user.created", "user.added_to_group", "user.removed_from_group", "user.added_to_group", "user.removed_from_group", "user.deleted"]);
    await expectVersionMatchesEvents("groups", gid);
    await expectVersionMatchesEvents("users", a);
  });
});

describe("JumpCloud", () => {
  it("renames a group with a path-less PATCH", async () => {
    const dir = await createScimDirectory(t, ProviderKind.JUMPCLOUD);
    const gid: string = (await dir.scim("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: "old" })).body.id;
    const res = await dir.scim("PATCH", `/Groups/${gid}?excludedAttributes=members`, patchOp({ op: "replace", value: { displayName: "new" } }));
    expect(res.status).toBe(200);
    expect(res.body.displayName).toBe("new");
    expect(res.body.meta.version).toBe('W/"2"');
    expect(await groupRow(gid)).toMatchObject({ display_name: "new", version: "2" });
    expect(await eventTypes(gid)).toEqual(["group.created", "group.updated"]);
    const [, updated] = await eventsOf(t, gid);
    expect(updated!.payload.changedAttributes).toEqual(["displayName"]);
    expect(updated!.payload.group).toMatchObject({ displayName: "new", version: 2 });
    expect((await dir.scim("GET", `/Groups?filter=${encodeURIComponent('displayName eq "new"')}`)).body.totalResults).toBe(1);
  });
});

describe("PATCH atomicity", () => {
  it("changes nothing when a later operation is invalid", async () => {
    const dir = await createScimDirectory(t, ProviderKind.OKTA);
    const id: string = (await dir.scim("POST", "/Users", oktaUser("atomic@example.com"))).body.id;
    const before = await userRow(id);
    const res = await dir.scim(
      "PATCH",
      `/Users/${id}`,
      patchOp({ op: "replace", path: "displayName", value: "Changed" }, { op: "replace", path: "emails[type eq", value: "x" }),
    );
    expectScimError(res, 400, "invalidPath");
    const mutability = await dir.scim("PATCH", `/Users/${id}`, patchOp({ op: "replace", path: "displayName", value: "Changed" }, { op: "replace", path: "id", value: randomUUID() }));
    expectScimError(mutability, 400, "mutability");
    const badValue = await dir.scim("PATCH", `/Users/${id}`, patchOp({ op: "replace", path: "active", value: false }, { op: "remove", path: "userName" }));
    expect(badValue.status).toBe(400);
    // A bad `attributes` parameter is refused before anything is written.
    const badProjection = await dir.scim("PATCH", `/Users/${id}?attributes=${encodeURIComponent("name..x")}`, patchOp({ op: "replace", path: "displayName", value: "Changed" }));
    expectScimError(badProjection, 400);
    expect(await userRow(id)).toEqual(before);
    expect(await eventTypes(id)).toEqual(["user.created"]);

    const gid: string = (await dir.scim("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: "atomic" })).body.id;
    const groupRes = await dir.scim(
      "PATCH",
      `/Groups/${gid}`,
      patchOp({ op: "add", path: "members", value: [{ value: id }] }, { op: "add", path: "members", value: [{ value: randomUUID() }] }),
    );
    expectScimError(groupRes, 400, "invalidValue");
    expect(await memberIds(gid)).toEqual([]);
    expect(await groupRow(gid)).toMatchObject({ version: "1", member_count: "0" });
    expect(await eventTypes(gid)).toEqual(["group.created"]);
    expect(await eventTypes(id)).toEqual(["user.created"]);
  });
});

describe("ETags", () => {
  it("refuses a stale If-Match with 412 and answers If-None-Match with 304", async () => {
    const dir = await createScimDirectory(t, ProviderKind.GENERIC);
    const id: string = (await dir.scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: "etag@example.com" })).body.id;
    await dir.scim("PATCH", `/Users/${id}`, patchOp({ op: "replace", path: "displayName", value: "v2" }));
    const got = await dir.scim("GET", `/Users/${id}`);
    expect(got.headers.get("etag")).toBe('W/"2"');
    expect(got.headers.get("etag")).toBe(got.body.meta.version);

    const stale = await dir.scim("PATCH", `/Users/${id}`, patchOp({ op: "replace", path: "displayName", value: "v3" }), { headers: { "if-match": 'W/"1"' } });
    expectScimError(stale, 412);
    expectScimError(await dir.scim("PUT", `/Users/${id}`, { userName: "etag@example.com" }, { headers: { "if-match": 'W/"1"' } }), 412);
    expectScimError(await dir.scim("DELETE", `/Users/${id}`, undefined, { headers: { "if-match": 'W/"1"' } }), 412);
    expect(await userRow(id)).toMatchObject({ version: "2", deleted_at: null });

    const notModified = await dir.scim("GET", `/Users/${id}`, undefined, { headers: { "if-none-match": 'W/"2"' } });
    expect(notModified.status).toBe(304);
    expect(notModified.text).toBe("");
    expect((await dir.scim("GET", `/Users/${id}`, undefined, { headers: { "if-none-match": 'W/"1"' } })).status).toBe(200);

    const fresh = await dir.scim("PATCH", `/Users/${id}`, patchOp({ op: "replace", path: "displayName", value: "v3" }), { headers: { "if-match": 'W/"2"' } });
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get("etag")).toBe('W/"3"');
    expect(fresh.body.meta.version).toBe('W/"3"');

    const gid: string = (await dir.scim("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: "etags" })).body.id;
    expectScimError(await dir.scim("PATCH", `/Groups/${gid}`, patchOp({ op: "replace", path: "displayName", value: "x" }), { headers: { "if-match": 'W/"7"' } }), 412);
    const group = await dir.scim("GET", `/Groups/${gid}`);
    expect(group.headers.get("etag")).toBe(group.body.meta.version);
    expect((await dir.scim("GET", `/Groups/${gid}`, undefined, { headers: { "if-none-match": group.body.meta.version } })).status).toBe(304);
    expect(await eventTypes(gid)).toEqual(["group.created"]);
  });
});

describe("pagination", () => {
  let dir: ScimDirectory;
  const created: string[] = [];
  beforeAll(async () => {
    dir = await createScimDirectory(t, ProviderKind.GENERIC);
    for (let i = 0; i < 23; i++) created.push((await dir.scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: `page${String(i).padStart(2, "0")}@example.com` })).body.id);
  });

  it("walks every user exactly once with startIndex and count", async () => {
    const seen: string[] = [];
    for (let start = 1; ; start += 5) {
      const page = await dir.scim("GET", `/Users?startIndex=${start}&count=5`);
      expect(page.status).toBe(200);
      expect(page.body).toMatchObject({ totalResults: 23, startIndex: start, itemsPerPage: page.body.Resources.length });
      seen.push(...page.body.Resources.map((r: { id: string }) => r.id));
      if (page.body.Resources.length < 5) break;
    }
    expect(seen).toHaveLength(23);
    expect(new Set(seen)).toEqual(new Set(created));
    const sorted = await dir.scim("GET", `/Users?sortBy=userName&sortOrder=descending&startIndex=21&count=5`);
    expect(sorted.body.Resources.map((r: { userName: string }) => r.userName)).toEqual(["page02@example.com", "page01@example.com", "page00@example.com"]);
    const countOnly = await dir.scim("GET", `/Users?count=0`);
    expect(countOnly.body).toMatchObject({ totalResults: 23, Resources: [] });
  });

  it("walks every user exactly once with an RFC 9865 cursor", async () => {
    const seen: string[] = [];
    let cursor = "";
    let pages = 0;
    for (;;) {
      const page = await dir.scim("GET", `/Users?count=4&cursor=${encodeURIComponent(cursor)}`);
      expect(page.status).toBe(200);
      expect(page.body.totalResults).toBe(23);
      seen.push(...page.body.Resources.map((r: { id: string }) => r.id));
      pages++;
      if (page.body.nextCursor === undefined) break;
      expect(typeof page.body.nextCursor).toBe("string");
      cursor = page.body.nextCursor;
      expect(pages).toBeLessThan(20);
    }
    expect(seen).toHaveLength(23);
    expect(new Set(seen)).toEqual(new Set(created));
    // A page that ends exactly at the last user carries no nextCursor (RFC 9865: absent on the last page).
    const exact = await dir.scim("GET", `/Users?count=23&cursor=`);
    expect(exact.body.Resources).toHaveLength(23);
    expect(exact.body.nextCursor).toBeUndefined();
    expectScimError(await dir.scim("GET", `/Users?count=4&cursor=not-a-cursor`), 400);
  });

  it("advertises both pagination methods", async () => {
    const res = await dir.scim("GET", "/ServiceProviderConfig");
    expect(res.status).toBe(200);
    expect(res.body.pagination).toMatchObject({ cursor: true, index: true });
    expect(res.body.bulk).toMatchObject({ supported: true, maxPayloadSize: MAX_BODY });
    expect(res.body.etag.supported).toBe(true);
  });
});

describe("bulk", () => {
  let dir: ScimDirectory;
  beforeAll(async () => {
    dir = await createScimDirectory(t, ProviderKind.GENERIC);
  });

  it("creates a user and a group that references it by bulkId", async () => {
    const res = await dir.scim("POST", "/Bulk", {
      schemas: [BULK_REQUEST],
      Operations: [
        { method: "POST", path: "/Users", bulkId: "u1", data: { schemas: [USER_SCHEMA], userName: "bulk1@example.com" } },
        { method: "POST", path: "/Groups", bulkId: "g1", data: { schemas: [GROUP_SCHEMA], displayName: "bulk group", members: [{ value: "bulkId:u1" }] } },
      ],
    });
    expect(res.status).toBe(200);
    const [u, g] = res.body.Operations;
    expect(u).toMatchObject({ method: "POST", bulkId: "u1", status: "201", version: 'W/"1"' });
    expect(g).toMatchObject({ method: "POST", bulkId: "g1", status: "201" });
    const uid = u.location.split("/").at(-1);
    const gid = g.location.split("/").at(-1);
    expect(await memberIds(gid)).toEqual([uid]);
    expect(await eventTypes(uid)).toEqual(["user.created", "user.added_to_group"]);
    expect(await eventTypes(gid)).toEqual(["group.created"]);
    expect((await eventsOf(t, gid))[0]!.payload.memberUserIds).toEqual([uid]);
    expect(await groupRow(gid)).toMatchObject({ member_count: "1", version: "1" });
  });

  it("stops after failOnErrors errors", async () => {
    const res = await dir.scim("POST", "/Bulk", {
      schemas: [BULK_REQUEST],
      failOnErrors: 1,
      Operations: [
        { method: "POST", path: "/Users", bulkId: "a", data: { schemas: [USER_SCHEMA] } },
        { method: "POST", path: "/Users", bulkId: "b", data: { schemas: [USER_SCHEMA], userName: "never@example.com" } },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.Operations).toHaveLength(1);
    expect(res.body.Operations[0]).toMatchObject({ bulkId: "a", status: "400", response: { schemas: [ERROR_SCHEMA], status: "400" } });
    expect(await db("SELECT 1 FROM users WHERE user_name = 'never@example.com'")).toHaveLength(0);
  });

  it("refuses too many operations with 413", async () => {
    // Above MAX_BULK_OPERATIONS but small enough for the body limit of this test server is
    // impossible at 4 KiB, so this uses a second server with the default limit.
    const big = await startTestRoster();
    try {
      const other = await createScimDirectory(big, ProviderKind.GENERIC);
      const ops = Array.from({ length: 1001 }, (_, i) => ({ method: "DELETE", path: `/Users/${i}` }));
      const res = await other.scim("POST", "/Bulk", { schemas: [BULK_REQUEST], Operations: ops });
      expectScimError(res, 413);
    } finally {
      await big.stop();
    }
  });
});

describe("errors", () => {
  let dir: ScimDirectory;
  beforeAll(async () => {
    dir = await createScimDirectory(t, ProviderKind.GENERIC);
  });

  it("refuses a body over the size limit with 413", async () => {
    const res = await dir.scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: "big@example.com", displayName: "x".repeat(MAX_BODY) });
    expectScimError(res, 413);
    expect(await db("SELECT 1 FROM users WHERE user_name = 'big@example.com'")).toHaveLength(0);
  });

  it("refuses invalid JSON with 400 invalidSyntax", async () => {
    expectScimError(await dir.scim("POST", "/Users", undefined, { raw: '{"userName": ' }), 400, "invalidSyntax");
    expectScimError(await dir.scim("POST", "/Users", undefined, { raw: "[1,2]" }), 400, "invalidSyntax");
  });

  it("refuses a bad filter with 400 invalidFilter", async () => {
    expectScimError(await dir.scim("GET", `/Users?filter=${encodeURIComponent('userName eq "unterminated')}`), 400, "invalidFilter");
    expectScimError(await dir.scim("GET", `/Users?filter=${encodeURIComponent("userName zz 1")}`), 400, "invalidFilter");
    expectScimError(await dir.scim("GET", `/Groups?filter=${encodeURIComponent("(displayName eq")}`), 400, "invalidFilter");
  });

  it("answers unknown resources and endpoints with 404", async () => {
    expectScimError(await dir.scim("GET", `/Users/${randomUUID()}`), 404);
    expectScimError(await dir.scim("GET", `/Users/not-a-uuid`), 404);
    expectScimError(await dir.scim("GET", `/Nope`), 404);
  });
});
