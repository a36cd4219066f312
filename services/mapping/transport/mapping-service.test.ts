// MappingService through the generated Connect client over real HTTP against real Postgres:
// golden payloads, validation that changes nothing, previews that write nothing, remaps that
// emit events for exactly the users whose canonical form changed, and the membership hook.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failureOf } from "../../testing/connect.ts";
import { Code } from "@connectrpc/connect";
import type { JsonObject } from "@bufbuild/protobuf";
import { DirectoryService, ProviderKind, UserState } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import {
  AttributeType,
  CanonicalField,
  GroupMatch,
  RemapJobState,
  type MappingRule,
  type RoleRule,
} from "@roster/sdk/gen/roster/mapping/v1/mapping_pb.js";
import { queryDatabase } from "../../testing/database.ts";
import type { TestRoster } from "../../testing/roster.ts";
import { ADA, PAYLOADS } from "../domain/testdata/payloads.ts";
import { serveMapping, type MappingServer } from "./testing.ts";

let t: TestRoster;
let m: MappingServer;

beforeAll(async () => {
  m = await serveMapping();
  t = m.t;
});

afterAll(async () => {
  await m?.stop();
});

const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const CUSTOM = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";

const rule = (sourcePath: string, target: MappingRule["target"], extra: Partial<MappingRule> = {}) =>
  ({ sourcePath, target, transforms: [], ...extra }) as MappingRule;

async function directory(provider = ProviderKind.GENERIC): Promise<string> {
  const { directory } = await t.client(DirectoryService).createDirectory({ name: `mapping ${Math.random()}`, provider });
  return directory!.id;
}

async function waitForJob(directoryId: string, id: string) {
  for (let i = 0; i < 400; i++) {
    const { job } = await m.client.getRemapJob({ directoryId, id });
    if (job!.state !== RemapJobState.RUNNING) return job!;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("remap job did not finish");
}

async function count(table: string): Promise<number> {
  const [row] = await queryDatabase<{ n: string }>(t.database.url, `SELECT count(*) AS n FROM ${table}`);
  return Number(row!.n);
}

describe("presets and golden payloads", () => {
  it("lists a preset per provider", async () => {
    const { presets } = await m.client.listPresets({});
    expect(presets.map((p) => p.provider).sort()).toEqual(
      [ProviderKind.OKTA, ProviderKind.ENTRA, ProviderKind.GOOGLE, ProviderKind.ONELOGIN, ProviderKind.JUMPCLOUD, ProviderKind.GENERIC].sort(),
    );
    expect(presets.every((p) => p.rules.length > 5)).toBe(true);
  });

  const providers = { okta: ProviderKind.OKTA, entra: ProviderKind.ENTRA, google: ProviderKind.GOOGLE, onelogin: ProviderKind.ONELOGIN, jumpcloud: ProviderKind.JUMPCLOUD };
  for (const [name, provider] of Object.entries(providers)) {
    it(`a ${name} directory turns ${name}'s payload, stored through the core, into the canonical Ada`, async () => {
      const dir = await directory(provider);
      const payload = PAYLOADS[name as keyof typeof PAYLOADS];
      const { user } = await t.client(DirectoryService).createUser({ directoryId: dir, resource: payload as unknown as JsonObject });
      const { user: canonical } = await m.client.getCanonicalUser({ directoryId: dir, userId: user!.id });
      expect(canonical).toMatchObject({
        id: user!.id,
        directoryId: dir,
        externalId: payload.externalId,
        username: ADA.username,
        emails: ADA.emails,
        givenName: ADA.givenName,
        familyName: ADA.familyName,
        displayName: ADA.displayName,
        state: UserState.ACTIVE,
        jobTitle: ADA.jobTitle,
        department: ADA.department,
        employeeNumber: ADA.employeeNumber,
        managerId: ADA.managerId,
        roles: [],
        version: 1n,
      });
      // The raw resource stays as the IdP sent it (minus the placeholder password).
      expect(canonical!.raw?.userName).toBe(payload.userName);
      expect(canonical!.raw).not.toHaveProperty("password");
      // The same through a preview of the raw payload.
      const preview = await m.client.previewMapping({ directoryId: dir, input: { case: "resource", value: payload as unknown as JsonObject } });
      expect({ ...preview.user, id: "", raw: undefined, version: 0n }).toEqual({ ...canonical, id: "", raw: undefined, version: 0n });
      expect(preview.sources.find((s) => s.target === "givenName")).toMatchObject({ sourcePath: "name.givenName", fromPreset: true });
    });
  }
});

describe("updating rules", () => {
  it("refuses bad rules with every problem named, and changes nothing", async () => {
    const dir = await directory();
    const before = await Promise.all(["mappings", "mapping_versions", "remap_jobs", "outbox_events"].map(count));
    const bad = await failureOf(
      m.client.updateMapping({
        directoryId: dir,
        overrides: [
          rule(`${CUSTOM}:costCenter`, { case: "customAttribute", value: "costCenter" }, { customType: AttributeType.STRING }),
          rule("firstName", { case: "field", value: CanonicalField.GIVEN_NAME }),
          rule("title", { case: "field", value: CanonicalField.JOB_TITLE }, { transforms: [{ kind: { case: "join", value: "," } }] as never }),
          rule("userName", { case: "field", value: CanonicalField.ACTIVE }),
        ],
      }),
    );
    expect(bad.code).toBe(Code.InvalidArgument);
    expect(bad.message).toContain(`override 2 (givenName): source_path "firstName": no attribute "firstName" in the core User schema`);
    expect(bad.message).toContain(`override 3 (jobTitle): join(",") needs a list of strings, but gets a string`);
    expect(bad.message).toContain(`override 4 (active): type mismatch: active needs a boolean, but "userName" gives a string (add to_bool)`);
    expect(bad.message).not.toContain("override 1");
    const missingType = await failureOf(m.client.updateMapping({ directoryId: dir, overrides: [rule(`${CUSTOM}:x`, { case: "customAttribute", value: "x" })] }));
    expect(missingType).toMatchObject({ code: Code.InvalidArgument, message: expect.stringContaining("needs a custom_type") });
    const noTarget = await failureOf(m.client.updateMapping({ directoryId: dir, overrides: [rule("title", { case: undefined })] }));
    expect(noTarget.message).toContain("override 1: set a target");
    const after = await Promise.all(["mappings", "mapping_versions", "remap_jobs", "outbox_events"].map(count));
    expect(after).toEqual(before);
    expect((await m.client.getMapping({ directoryId: dir })).mapping?.version).toBe(0n);
  });

  it("checks the expected version", async () => {
    const dir = await directory();
    const first = await m.client.updateMapping({ directoryId: dir, overrides: [rule("nickName", { case: "field", value: CanonicalField.DISPLAY_NAME })], expectedVersion: 0n });
    expect(first.mapping?.version).toBe(1n);
    expect(first.mapping?.effectiveRules.some((r) => r.sourcePath === "nickName")).toBe(true);
    expect(first.mapping?.effectiveRules.some((r) => r.sourcePath === "displayName")).toBe(false);
    expect((await failureOf(m.client.updateMapping({ directoryId: dir, overrides: [], expectedVersion: 0n }))).code).toBe(Code.Aborted);
    expect((await failureOf(m.client.getMapping({ directoryId: "00000000-0000-7000-8000-000000000000" }))).code).toBe(Code.NotFound);
  });

  it("previews write nothing", async () => {
    const dir = await directory(ProviderKind.ENTRA);
    const { user } = await t.client(DirectoryService).createUser({ directoryId: dir, resource: PAYLOADS.entra as unknown as JsonObject });
    const tables = ["users", "groups", "memberships", "mappings", "mapping_versions", "remap_jobs", "outbox_events"];
    const before = await Promise.all(tables.map(count));
    const preview = await m.client.previewMapping({
      directoryId: dir,
      input: { case: "userId", value: user!.id },
      useGivenRules: true,
      overrides: [rule(`${ENTERPRISE}:department`, { case: "field", value: CanonicalField.DEPARTMENT }, { transforms: [{ kind: { case: "lowerCase", value: true } }] as never })],
    });
    expect(preview.user?.department).toBe("analytical engines");
    expect(preview.sources.find((s) => s.target === "department")).toMatchObject({ fromPreset: false });
    const raw = await m.client.previewMapping({
      directoryId: dir,
      input: { case: "resource", value: { userName: "x@example.com", [CUSTOM]: { contractor: "maybe" } } },
      useGivenRules: true,
      overrides: [rule(`${CUSTOM}:contractor`, { case: "customAttribute", value: "contractor" }, { customType: AttributeType.BOOL, transforms: [{ kind: { case: "toBool", value: true } }] as never })],
    });
    expect(raw.warnings).toEqual([`custom.contractor from ${CUSTOM}:contractor: to_bool cannot read "maybe"`]);
    expect(await Promise.all(tables.map(count))).toEqual(before);
  });
});

describe("remapping", () => {
  it("re-derives in the background and emits events for exactly the users whose canonical form changed", async () => {
    const dir = await directory(ProviderKind.OKTA);
    const core = t.client(DirectoryService);
    const users: Array<{ id: string; dept: string; contractor: boolean }> = [];
    for (let i = 0; i < 40; i++) {
      const dept = i % 4 === 0 ? "  Sales  " : "Engineering";
      const contractor = i % 5 === 0;
      const { user } = await core.createUser({
        directoryId: dir,
        resource: { userName: `user${i}@example.com`, name: { givenName: `U${i}`, familyName: "X" }, [ENTERPRISE]: { department: dept }, [CUSTOM]: contractor ? { contractor: "yes" } : {} },
      });
      users.push({ id: user!.id, dept, contractor });
    }
    const { group } = await core.createGroup({ directoryId: dir, resource: { displayName: "Eng-Admins" }, memberUserIds: users.slice(0, 3).map((u) => u.id) });
    const maxSeq = async () =>
      new Map((await queryDatabase<{ subject_id: string; s: string }>(t.database.url, "SELECT subject_id, max(sequence) AS s FROM outbox_events WHERE directory_id = $1 GROUP BY subject_id", [dir])).map((r) => [r.subject_id, Number(r.s)]));
    const seqBefore = await maxSeq();

    // v1: only the contractor flag (a custom attribute) is new: users with the flag change.
    const v1 = await m.client.updateMapping({
      directoryId: dir,
      overrides: [rule(`${CUSTOM}:contractor`, { case: "customAttribute", value: "contractor" }, { customType: AttributeType.BOOL, transforms: [{ kind: { case: "toBool", value: true } }] as never })],
      roleRules: [{ match: GroupMatch.DISPLAY_NAME_PATTERN, value: "eng-*", roles: ["admin"] } as RoleRule],
    });
    expect(v1.job?.state).toBe(RemapJobState.RUNNING);
    expect(v1.job?.usersTotal).toBe(40n);
    const job1 = await waitForJob(dir, v1.job!.id);
    expect(job1).toMatchObject({ state: RemapJobState.DONE, usersProcessed: 40n, mappingVersion: 1n });
    const events1 = await queryDatabase<{ subject_id: string; type: string; sequence: string; payload: { canonical: Record<string, unknown>; changedFields?: string[]; roles?: string[] } }>(
      t.database.url,
      "SELECT subject_id, type, sequence, payload FROM outbox_events WHERE directory_id = $1 AND payload->>'remapJobId' = $2 ORDER BY seq",
      [dir, v1.job!.id],
    );
    const updated1 = new Set(events1.filter((e) => e.type === "user.updated").map((e) => e.subject_id));
    const roles1 = new Set(events1.filter((e) => e.type === "user.roles_changed").map((e) => e.subject_id));
    expect([...updated1].sort()).toEqual(users.filter((u) => u.contractor).map((u) => u.id).sort());
    expect([...roles1].sort()).toEqual(users.slice(0, 3).map((u) => u.id).sort());
    expect(job1.usersChanged).toBe(BigInt(new Set([...updated1, ...roles1]).size));
    const updatedEvent = events1.find((e) => e.type === "user.updated")!;
    expect(updatedEvent.payload.changedFields).toEqual(["custom.contractor"]);
    expect(updatedEvent.payload.canonical.customAttributes).toEqual({ contractor: { type: "bool", value: true } });
    expect(events1.find((e) => e.type === "user.roles_changed")!.payload.roles).toEqual(["admin"]);

    // v2: department lower-cased and trimmed: every user whose department text changes.
    const v2 = await m.client.updateMapping({
      directoryId: dir,
      expectedVersion: 1n,
      overrides: [
        ...v1.mapping!.overrides,
        rule(`${ENTERPRISE}:department`, { case: "field", value: CanonicalField.DEPARTMENT }, { transforms: [{ kind: { case: "trim", value: true } }, { kind: { case: "lowerCase", value: true } }] as never }),
      ],
      roleRules: v1.mapping!.roleRules,
    });
    const job2 = await waitForJob(dir, v2.job!.id);
    expect(job2.usersChanged).toBe(40n);
    // v3: employee number from a custom attribute nobody has: no canonical form changes.
    const v3 = await m.client.updateMapping({
      directoryId: dir,
      overrides: [...v2.mapping!.overrides, rule(`${CUSTOM}:badge`, { case: "field", value: CanonicalField.EMPLOYEE_NUMBER })],
      roleRules: v2.mapping!.roleRules,
    });
    const job3 = await waitForJob(dir, v3.job!.id);
    expect(job3).toMatchObject({ state: RemapJobState.DONE, usersChanged: 0n, usersProcessed: 40n });

    // Every user's events are numbered without gaps, continuing from before.
    const all = await queryDatabase<{ subject_id: string; sequence: string }>(t.database.url, "SELECT subject_id, sequence FROM outbox_events WHERE directory_id = $1 AND subject_type = 'user' ORDER BY subject_id, sequence", [dir]);
    const bySubject = new Map<string, number[]>();
    for (const e of all) bySubject.set(e.subject_id, [...(bySubject.get(e.subject_id) ?? []), Number(e.sequence)]);
    for (const [id, seqs] of bySubject) {
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
      const [row] = await queryDatabase<{ version: string }>(t.database.url, "SELECT version FROM users WHERE id = $1", [id]);
      expect(Number(row!.version)).toBe(seqs.at(-1));
    }
    const seqAfter = await maxSeq();
    const sales = users.find((u) => u.dept.includes("Sales"))!;
    expect(seqAfter.get(sales.id)! - seqBefore.get(sales.id)!).toBeGreaterThanOrEqual(1);

    const { user: canonical } = await m.client.getCanonicalUser({ directoryId: dir, userId: sales.id });
    expect(canonical?.department).toBe("sales");
    const { user: admin } = await m.client.getCanonicalUser({ directoryId: dir, userId: users[0]!.id });
    expect(admin?.roles).toEqual(["admin"]);
    expect(admin?.groupIds).toEqual([group!.id]);
    expect((await m.client.getRemapJob({ directoryId: dir, id: "" })).job?.id).toBe(v3.job!.id);
  });

  it("a newer change takes over a running job without losing or repeating users", async () => {
    const dir = await directory();
    const core = t.client(DirectoryService);
    for (let i = 0; i < 30; i++) await core.createUser({ directoryId: dir, resource: { userName: `t${i}@example.com`, title: "Eng" } });
    const lower = { kind: { case: "lowerCase", value: true } };
    const a = await m.client.updateMapping({ directoryId: dir, overrides: [rule("title", { case: "field", value: CanonicalField.JOB_TITLE }, { transforms: [lower] as never })] });
    // Once the first job is under way, back to the preset: users the first job reached change
    // back, the others never changed at all.
    for (let i = 0; i < 400 && (await m.client.getRemapJob({ directoryId: dir, id: a.job!.id })).job!.usersProcessed === 0n; i++) await new Promise((r) => setTimeout(r, 2));
    const b = await m.client.updateMapping({ directoryId: dir, overrides: [] });
    await waitForJob(dir, b.job!.id);
    const first = (await m.client.getRemapJob({ directoryId: dir, id: a.job!.id })).job!;
    expect([RemapJobState.SUPERSEDED, RemapJobState.DONE]).toContain(first.state);
    const events = await queryDatabase<{ subject_id: string; type: string; job: string }>(
      t.database.url,
      "SELECT subject_id, type, payload->>'remapJobId' AS job FROM outbox_events WHERE directory_id = $1 AND type = 'user.updated' ORDER BY seq",
      [dir],
    );
    const byUser = new Map<string, string[]>();
    for (const e of events) byUser.set(e.subject_id, [...(byUser.get(e.subject_id) ?? []), e.job]);
    // Each user changed by the first job is changed back by the second, and only those.
    for (const jobs of byUser.values()) expect(jobs).toEqual([a.job!.id, b.job!.id]);
    expect(byUser.size).toBe(Number(first.usersChanged));
    expect(byUser.size).toBeGreaterThan(0);
  });
});

describe("the membership hook", () => {
  it("emits user.roles_changed, numbered after the membership events, only when roles change", async () => {
    const dir = await directory();
    const core = t.client(DirectoryService);
    const { user } = await core.createUser({ directoryId: dir, resource: { userName: "hook@example.com" } });
    const { group } = await core.createGroup({ directoryId: dir, resource: { displayName: "Ops-Oncall", externalId: "ext-ops" }, memberUserIds: [] });
    const { group: other } = await core.createGroup({ directoryId: dir, resource: { displayName: "Book club" }, memberUserIds: [] });
    const v = await m.client.updateMapping({ directoryId: dir, roleRules: [{ match: GroupMatch.EXTERNAL_ID, value: "ext-ops", roles: ["oncall", "ops"] } as RoleRule] });
    await waitForJob(dir, v.job!.id);
    // Joining through the real membership path: the roles follow, numbered after the join.
    const eventsOf = () =>
      queryDatabase<{ type: string; sequence: string; payload: { roles?: string[]; rolesAdded?: string[]; rolesRemoved?: string[] } }>(
        t.database.url,
        "SELECT type, sequence, payload FROM outbox_events WHERE subject_id = $1 ORDER BY sequence",
        [user!.id],
      );
    const addTo = async (g: typeof group) => {
      const before = (await eventsOf()).length;
      await core.addGroupMembers({ directoryId: dir, groupId: g!.id, userIds: [user!.id] });
      return (await eventsOf()).slice(before);
    };
    const joined = await addTo(group);
    expect(joined.map((e) => e.type)).toEqual(["user.added_to_group", "user.roles_changed"]);
    expect(joined[1]).toMatchObject({ sequence: "3", payload: { roles: ["oncall", "ops"], rolesAdded: ["oncall", "ops"], rolesRemoved: [] } });
    expect((await core.getUser({ directoryId: dir, id: user!.id })).user?.version).toBe(3n);
    const book = await addTo(other);
    expect(book.map((e) => e.type)).toEqual(["user.added_to_group"]);
  });

  it("re-derives members' roles when a group is renamed into or out of a rule's pattern", async () => {
    const dir = await directory();
    const core = t.client(DirectoryService);
    const { user: ada } = await core.createUser({ directoryId: dir, resource: { userName: "ada@example.com" } });
    const { user: bob } = await core.createUser({ directoryId: dir, resource: { userName: "bob@example.com" } });
    const { group } = await core.createGroup({ directoryId: dir, resource: { displayName: "Book club" }, memberUserIds: [ada!.id, bob!.id] });
    const v = await m.client.updateMapping({ directoryId: dir, roleRules: [{ match: GroupMatch.DISPLAY_NAME_PATTERN, value: "Ops-*", roles: ["ops"] } as RoleRule] });
    await waitForJob(dir, v.job!.id);
    const rolesEvents = (userId: string) =>
      queryDatabase<{ type: string; payload: { roles?: string[] } }>(
        t.database.url,
        "SELECT type, payload FROM outbox_events WHERE subject_id = $1 AND type = 'user.roles_changed' ORDER BY sequence",
        [userId],
      );
    expect(await rolesEvents(ada!.id)).toEqual([]);
    await core.updateGroup({ directoryId: dir, id: group!.id, resource: { displayName: "Ops-Books" } });
    for (const u of [ada!, bob!]) expect((await rolesEvents(u.id)).map((e) => e.payload.roles)).toEqual([["ops"]]);
    const { user: canonical } = await m.client.getCanonicalUser({ directoryId: dir, userId: bob!.id });
    expect(canonical?.roles).toEqual(["ops"]);
    // A rename that changes nothing a rule reads emits no role event; leaving the pattern does.
    await core.updateGroup({ directoryId: dir, id: group!.id, resource: { displayName: "Ops-Books", externalId: "x-1" } });
    expect(await rolesEvents(ada!.id)).toHaveLength(1);
    await core.updateGroup({ directoryId: dir, id: group!.id, resource: { displayName: "Books" } });
    expect((await rolesEvents(ada!.id)).map((e) => e.payload.roles)).toEqual([["ops"], []]);
  });
});
