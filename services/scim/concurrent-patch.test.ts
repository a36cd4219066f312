// Concurrent SCIM PATCHes, as Okta and Entra send them: many at once to one group or one
// user, none with If-Match. The core applies each under the resource's row lock, so every
// one succeeds and none is lost; 412 is only for a client that sent a stale If-Match.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { DeprovisioningMode, DirectoryService, ProviderKind } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { startTestRoster, type TestRoster } from "../testing/roster.ts";
import { checkContiguous, createScimDirectory, eventsOf, GROUP_SCHEMA, patchOp, USER_SCHEMA, type ScimDirectory } from "../testing/scim.ts";

const PARALLEL = 20;

let t: TestRoster;
beforeAll(async () => {
  t = await startTestRoster();
});
afterAll(async () => {
  await t?.stop();
});

async function createUsers(dir: ScimDirectory, n: number, prefix: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await dir.scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: `${prefix}-${i}@example.com`, active: true });
    expect(res.status).toBe(201);
    ids.push(res.body.id as string);
  }
  return ids;
}

describe("concurrent PATCH without If-Match", () => {
  it.each([
    ["Okta", ProviderKind.OKTA],
    ["Entra", ProviderKind.ENTRA],
  ] as const)("%s: 20 PATCHes adding different members to one group all succeed, and every member is in", async (name, provider) => {
    const dir = await createScimDirectory(t, provider);
    const users = await createUsers(dir, PARALLEL, `group-${name}`);
    const group = await dir.scim("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: `parallel ${name}` });
    const groupId = group.body.id as string;

    const answers = await Promise.all(users.map((id) => dir.scim("PATCH", `/Groups/${groupId}`, patchOp({ op: "add", path: "members", value: [{ value: id }] }))));
    expect(answers.map((a) => a.status)).toEqual(users.map(() => 204));

    const after = await dir.scim("GET", `/Groups/${groupId}`);
    expect((after.body.members as Array<{ value: string }>).map((m) => m.value).sort()).toEqual([...users].sort());
    // One version per PATCH, each with its own event, none lost or doubled.
    const events = (await eventsOf(t, groupId)).filter((e) => e.type === "group.members_added");
    expect(events).toHaveLength(PARALLEL);
    expect(new Set(events.map((e) => e.sequence)).size).toBe(PARALLEL);
    for (const id of users) checkContiguous(await eventsOf(t, id));
  });

  it("20 PATCHes of one user, each a different attribute, all succeed and all are kept", async () => {
    const dir = await createScimDirectory(t, ProviderKind.OKTA);
    const [userId] = await createUsers(dir, 1, "one-user");
    const answers = await Promise.all(
      Array.from({ length: PARALLEL }, (_, i) =>
        dir.scim("PATCH", `/Users/${userId}`, patchOp({ op: "add", path: "emails", value: [{ type: `t${i}`, value: `alias-${i}@example.com` }] })),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    const user = await dir.scim("GET", `/Users/${userId}`);
    expect((user.body.emails as unknown[]).length).toBe(PARALLEL);
    expect(user.body.meta.version).toBe(`W/"${1 + PARALLEL}"`);
    const events = await eventsOf(t, userId!);
    checkContiguous(events);
    expect(events.map((e) => e.type)).toEqual(["user.created", ...Array.from({ length: PARALLEL }, () => "user.updated")]);
  });

  it("20 PATCHes deactivating random users of one directory all succeed (Okta's path-less form)", async () => {
    const dir = await createScimDirectory(t, ProviderKind.OKTA);
    const users = await createUsers(dir, PARALLEL, "deactivate");
    const answers = await Promise.all(users.map((id) => dir.scim("PATCH", `/Users/${id}`, patchOp({ op: "replace", value: { active: false } }))));
    expect(answers.map((a) => [a.status, a.body.active])).toEqual(users.map(() => [200, false]));
    for (const id of users) expect((await eventsOf(t, id)).map((e) => e.type)).toEqual(["user.created", "user.deactivated"]);
  });
});

describe("If-Match", () => {
  it("answers 412 only for a stale version, and writes nothing then", async () => {
    const dir = await createScimDirectory(t, ProviderKind.OKTA);
    const [userId] = await createUsers(dir, 1, "if-match");
    const first = await dir.scim("PATCH", `/Users/${userId}`, patchOp({ op: "replace", path: "displayName", value: "One" }), { headers: { "if-match": 'W/"1"' } });
    expect(first.status).toBe(200);
    expect(first.headers.get("etag")).toBe('W/"2"');
    const stale = await dir.scim("PATCH", `/Users/${userId}`, patchOp({ op: "replace", path: "displayName", value: "Two" }), { headers: { "if-match": 'W/"1"' } });
    expect(stale.status).toBe(412);
    expect((await dir.scim("GET", `/Users/${userId}`)).body.displayName).toBe("One");

    const group = await dir.scim("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: "if-match" });
    const version = group.headers.get("etag")!;
    const renamed = await dir.scim("PATCH", `/Groups/${group.body.id}`, patchOp({ op: "replace", path: "displayName", value: "renamed" }), { headers: { "if-match": version } });
    expect(renamed.status).toBe(204);
    const staleGroup = await dir.scim("PATCH", `/Groups/${group.body.id}`, patchOp({ op: "add", path: "members", value: [{ value: userId }] }), { headers: { "if-match": version } });
    expect(staleGroup.status).toBe(412);
    expect((await dir.scim("GET", `/Groups/${group.body.id}`)).body.members).toBeUndefined();
  });
});

describe("PatchUser and PatchGroup over Connect (hostile callers)", () => {
  it("refuses what a SCIM PATCH would refuse, with the kind, and never another tenant's user", async () => {
    const a = await createScimDirectory(t, ProviderKind.GENERIC);
    const b = await createScimDirectory(t, ProviderKind.GENERIC);
    const [userId] = await createUsers(a, 1, "rpc");
    const core = t.client(DirectoryService);
    const refused = async (call: Promise<unknown>): Promise<[Code, string | null]> => {
      try {
        await call;
      } catch (error) {
        const e = ConnectError.from(error);
        return [e.code, e.metadata.get("roster-error-kind")];
      }
      throw new Error("expected a refusal");
    };
    expect(await refused(core.patchUser({ directoryId: a.id, id: userId!, operations: [{ op: "move", path: "displayName" }] }))).toEqual([Code.InvalidArgument, "invalidSyntax"]);
    expect(await refused(core.patchUser({ directoryId: a.id, id: userId!, operations: [{ op: "add", path: "displayName" }] }))).toEqual([Code.InvalidArgument, "invalidValue"]);
    const tooMany = Array.from({ length: 1001 }, () => ({ op: "remove", path: "title" }));
    expect(await refused(core.patchUser({ directoryId: a.id, id: userId!, operations: tooMany }))).toEqual([Code.InvalidArgument, "tooMany"]);
    expect(await refused(core.patchUser({ directoryId: a.id, id: userId!, operations: [{ op: "replace", path: 'emails[value eq "x"', value: { kind: { case: "stringValue", value: "y" } } }] }))).toEqual([
      Code.InvalidArgument,
      "invalidPath",
    ]);
    // B's directory does not hold A's user.
    expect((await refused(core.patchUser({ directoryId: b.id, id: userId!, operations: [{ op: "replace", path: "displayName", value: { kind: { case: "stringValue", value: "x" } } }] })))[0]).toBe(Code.NotFound);
    expect((await refused(core.patchGroup({ directoryId: b.id, id: userId!, operations: [{ op: "remove", path: "members" }] })))[0]).toBe(Code.NotFound);
    const viaB = await b.scim("PATCH", `/Users/${userId}`, patchOp({ op: "replace", path: "displayName", value: "stolen" }));
    expect(viaB.status).toBe(404);
    const user = await a.scim("GET", `/Users/${userId}`);
    expect(user.body.displayName).toBeUndefined();
    expect(user.body.meta.version).toBe('W/"1"');
  });
});

describe("round trips", () => {
  /** The statements Roster sends Postgres while fn runs, but the off-path ones (audit batches, token use). */
  async function statementsDuring(fn: () => Promise<void>): Promise<string[]> {
    const seen: string[] = [];
    const query = pg.Client.prototype.query;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const q = args[0] as string | { text?: string } | undefined;
      const text = (typeof q === "string" ? q : (q?.text ?? "")).replace(/\s+/g, " ").trim();
      // The audit buffer's flush and a token's last use are written on their own timers.
      if (!/^insert into "?scim_audit"? |^update "?scim_tokens"? /i.test(text)) seen.push(text);
      return (query as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof query;
    try {
      await fn();
    } finally {
      pg.Client.prototype.query = query;
    }
    return seen;
  }

  it("a user PATCH deactivating costs four statements: begin, the user with its groups, the write with its events (no brake on), commit", async () => {
    const dir = await createScimDirectory(t, ProviderKind.OKTA);
    const [userId] = await createUsers(dir, 1, "round-trips");
    // Caches warm (token, directory, mapping rules), as for every request but a directory's first.
    await dir.scim("PATCH", `/Users/${userId}`, patchOp({ op: "replace", path: "displayName", value: "warm" }));
    const statements = await statementsDuring(async () => {
      const res = await dir.scim("PATCH", `/Users/${userId}`, patchOp({ op: "replace", value: { active: false } }));
      expect(res.status).toBe(200);
    });
    expect(statements.map((s) => s.split(" ").slice(0, 2).join(" ").toLowerCase())).toEqual(["begin", "select id,", "with guard", "commit"]);
    expect((await eventsOf(t, userId!)).map((e) => e.type)).toEqual(["user.created", "user.updated", "user.deactivated"]);
  });
});

describe("a PATCH that waits for the user's lock", () => {
  it("sees the groups committed while it waited, in its answer and in its event", async () => {
    const dir = await createScimDirectory(t, ProviderKind.OKTA);
    const [userId] = await createUsers(dir, 1, "waits");
    const group = await dir.scim("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: "joined while waiting" });
    const groupId = group.body.id as string;
    // Another writer holds the user, as a member change does, and adds it to the group.
    const other = new pg.Client({ connectionString: t.database.url });
    await other.connect();
    try {
      await other.query("BEGIN");
      await other.query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", [userId]);
      await other.query("INSERT INTO memberships (group_id, user_id, directory_id, created_at) VALUES ($1, $2, $3, now())", [groupId, userId, dir.id]);
      const patched = dir.scim("PATCH", `/Users/${userId}`, patchOp({ op: "replace", path: "displayName", value: "after the wait" }));
      await new Promise((r) => setTimeout(r, 300));
      await other.query("COMMIT");
      const res = await patched;
      expect(res.status).toBe(200);
      expect((res.body.groups as Array<{ value: string }> | undefined)?.map((g) => g.value)).toEqual([groupId]);
    } finally {
      await other.end();
    }
    const last = (await eventsOf(t, userId!)).at(-1)!;
    expect(last.type).toBe("user.updated");
    expect((last.payload as { canonical?: { groupIds?: string[] } }).canonical?.groupIds).toEqual([groupId]);
  });
});

describe("the deprovisioning brake", () => {
  it("still holds PATCH deactivations once a policy is set in a directory that deactivated without one", async () => {
    const dir = await createScimDirectory(t, ProviderKind.OKTA);
    const users = await createUsers(dir, 6, "brake-later");
    const deactivate = (id: string) => dir.scim("PATCH", `/Users/${id}`, patchOp({ op: "replace", value: { active: false } }));
    // No policy: written without the brake's lock.
    expect((await deactivate(users[0]!)).status).toBe(200);
    await t.client(DirectoryService).setDeprovisioningPolicy({
      directoryId: dir.id,
      policy: { mode: DeprovisioningMode.HOLD, windowSeconds: 60, maxDeprovisions: 2, maxSharePercent: 0, groupWipePercent: 0 },
    });
    expect((await deactivate(users[1]!)).status).toBe(200);
    expect((await deactivate(users[2]!)).status).toBe(200);
    const held = await deactivate(users[3]!);
    expect(held.status).toBe(503);
    expect((await dir.scim("GET", `/Users/${users[3]}`)).body.active).toBe(true);
    expect((await deactivate(users[4]!)).status).toBe(503);
  });
});
