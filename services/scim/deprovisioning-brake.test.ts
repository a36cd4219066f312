// The brake on mass deprovisioning, end to end: SCIM over real HTTP, the policy and the hold
// decisions over real Connect, real Postgres behind.
import { execFile } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import {
  ApiKeyScope,
  DeprovisioningMode,
  DirectoryService,
  HoldDecision,
  ProviderKind,
} from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { SubjectType } from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { eventToPb } from "../core/transport/event-codec.ts";
import type { StoredEvent } from "../event-log/index.ts";
import { failureOf } from "../testing/connect.ts";
import { queryDatabase } from "../testing/database.ts";
import { startTestRoster, type TestRoster } from "../testing/roster.ts";
import { createScimDirectory, ERROR_SCHEMA, GROUP_SCHEMA, patchOp, USER_SCHEMA, type ScimDirectory } from "../testing/scim.ts";

let t: TestRoster;

beforeAll(async () => {
  t = await startTestRoster();
});

afterAll(async () => {
  await t?.stop();
});

const db = <T extends Record<string, unknown>>(sql: string, params: unknown[] = []) => queryDatabase<T>(t.database.url, sql, params);
const admin = () => t.client(DirectoryService);

async function createUsers(dir: ScimDirectory, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await dir.scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: `u${i}@example.com`, active: true });
    expect(r.status).toBe(201);
    ids.push(r.body.id as string);
  }
  return ids;
}

const deactivate = (dir: ScimDirectory, id: string) => dir.scim("PATCH", `/Users/${id}`, patchOp({ op: "replace", path: "active", value: false }));

async function activeCount(directoryId: string): Promise<number> {
  const [row] = await db<{ n: string }>("SELECT count(*) AS n FROM users WHERE directory_id = $1 AND state = 'active'", [directoryId]);
  return Number(row!.n);
}

async function brakeEvents(directoryId: string): Promise<string[]> {
  const rows = await db<{ type: string }>("SELECT type FROM outbox_events WHERE subject_id = $1 AND subject_type = 'directory' ORDER BY sequence", [directoryId]);
  return rows.map((r) => r.type);
}

async function metric(outcome: string): Promise<number> {
  const text = await (await fetch(`${t.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`roster_deprovisioning_brake_total{outcome="${outcome}"}`));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

const holdPolicy = (overrides: Partial<{ windowSeconds: number; maxDeprovisions: number; maxSharePercent: number; groupWipePercent: number; mode: DeprovisioningMode }> = {}) => ({
  mode: DeprovisioningMode.HOLD,
  windowSeconds: 60,
  maxDeprovisions: 0,
  maxSharePercent: 10,
  groupWipePercent: 0,
  ...overrides,
});

describe("hold", () => {
  it("holds a directory deactivating 30% of its users in a minute; refusals, release, and the IdP's retries succeed", async () => {
    const dir = await createScimDirectory(t, ProviderKind.OKTA);
    const users = await createUsers(dir, 50);
    const set = await admin().setDeprovisioningPolicy({ directoryId: dir.id, policy: holdPolicy() });
    expect(set.brake!.policy!.mode).toBe(DeprovisioningMode.HOLD);
    const heldBefore = await metric("held");

    // 15 deactivations (30%) at once: the brake decides one at a time, so exactly 10% pass.
    const leavers = users.slice(0, 15);
    const first = await Promise.all(leavers.map((id) => deactivate(dir, id)));
    const passed = leavers.filter((_, i) => first[i]!.status === 200);
    const refused = first.filter((r) => r.status !== 200);
    expect(passed).toHaveLength(5);
    expect(refused).toHaveLength(10);
    for (const r of refused) {
      expect(r.status).toBe(503);
      expect(r.headers.get("retry-after")).toBe("60");
      expect(r.body.schemas).toEqual([ERROR_SCHEMA]);
      expect(r.body.status).toBe("503");
      expect(r.body.detail).toContain("held for review");
    }
    // Nothing of a refused request was written.
    expect(await activeCount(dir.id)).toBe(45);
    expect(await brakeEvents(dir.id)).toEqual(["directory.deprovisioning_held"]);
    expect(await metric("held")).toBe(heldBefore + 1);
    const held = (await admin().getDeprovisioningBrake({ directoryId: dir.id })).brake!;
    expect(held.heldSince).toBeDefined();
    expect(held.heldReason).toBe("share");
    expect(held.deprovisionsInWindow).toBe(5n);

    // Every deprovisioning request is refused while held: a delete too, and a PUT with active=false.
    const stillActive = users[20]!;
    expect((await dir.scim("DELETE", `/Users/${stillActive}`)).status).toBe(503);
    const put = await dir.scim("PUT", `/Users/${stillActive}`, { schemas: [USER_SCHEMA], userName: "u20@example.com", active: false });
    expect(put.status).toBe(503);
    // Other writes go on.
    expect((await dir.scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: "joiner@example.com" })).status).toBe(201);
    expect((await dir.scim("PATCH", `/Users/${stillActive}`, patchOp({ op: "replace", path: "displayName", value: "Still Here" }))).status).toBe(200);

    // The admin keeps the hold: still refused.
    await admin().decideDeprovisioningHold({ directoryId: dir.id, decision: HoldDecision.KEEP, note: "checking with HR" });
    expect((await deactivate(dir, leavers.find((id) => !passed.includes(id))!)).status).toBe(503);

    // Released for ten minutes: the IdP's retries of the refused requests all succeed.
    const released = await admin().decideDeprovisioningHold({ directoryId: dir.id, decision: HoldDecision.RELEASE_FOR, releaseSeconds: 600, note: "reorg confirmed" });
    expect(released.brake!.heldSince).toBeUndefined();
    expect(released.brake!.releasedUntil).toBeDefined();
    const retried = await Promise.all(leavers.filter((id) => !passed.includes(id)).map((id) => deactivate(dir, id)));
    expect(retried.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(await activeCount(dir.id)).toBe(36);
    expect(await brakeEvents(dir.id)).toEqual(["directory.deprovisioning_held", "directory.deprovisioning_released"]);

    // Each decision is in the directory's audit log, with who decided.
    const { records } = await admin().listScimAuditRecords({ directoryId: dir.id, pageSize: 1000 });
    const decisions = records.filter((r) => r.method === "RPC").map((r) => [r.path.split("/").at(-1), r.requestBody?.fields]);
    expect(decisions.map(([path]) => path)).toEqual(["DecideDeprovisioningHold", "DecideDeprovisioningHold", "SetDeprovisioningPolicy"]);
    const release = records.find((r) => r.method === "RPC" && JSON.stringify(r.requestBody).includes("release_for"));
    expect(release).toBeDefined();
    expect(JSON.stringify(release!.requestBody)).toContain("reorg confirmed");
    expect(JSON.stringify(release!.requestBody)).toContain("api_key:");
    // The refusals are in it too, as SCIM calls answered 503.
    await expect.poll(async () => (await admin().listScimAuditRecords({ directoryId: dir.id, status: 503, pageSize: 1000 })).records.length).toBeGreaterThanOrEqual(10);
  });

  it("release once lifts the hold and restarts the count: the batch proceeds until a threshold is crossed again", async () => {
    const dir = await createScimDirectory(t, ProviderKind.ENTRA);
    const users = await createUsers(dir, 12);
    await admin().setDeprovisioningPolicy({ directoryId: dir.id, policy: holdPolicy({ maxSharePercent: 0, maxDeprovisions: 3 }) });
    const statuses: number[] = [];
    for (const id of users.slice(0, 5)) statuses.push((await dir.scim("DELETE", `/Users/${id}`)).status);
    expect(statuses).toEqual([204, 204, 204, 503, 503]);
    await admin().decideDeprovisioningHold({ directoryId: dir.id, decision: HoldDecision.RELEASE_ONCE });
    const after: number[] = [];
    for (const id of users.slice(3, 8)) after.push((await dir.scim("DELETE", `/Users/${id}`)).status);
    expect(after).toEqual([204, 204, 204, 503, 503]);
    expect(await brakeEvents(dir.id)).toEqual(["directory.deprovisioning_held", "directory.deprovisioning_released", "directory.deprovisioning_held"]);
  });

  it("holds on a group wipe: a replace of members that removes more than the share is refused, memberships unchanged", async () => {
    const dir = await createScimDirectory(t, ProviderKind.OKTA);
    const users = await createUsers(dir, 10);
    const group = await dir.scim("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: "engineering", members: users.map((value) => ({ value })) });
    expect(group.status).toBe(201);
    await admin().setDeprovisioningPolicy({ directoryId: dir.id, policy: holdPolicy({ maxSharePercent: 0, groupWipePercent: 50 }) });
    // Removing half is allowed (not more than the share).
    const half = await dir.scim("PATCH", `/Groups/${group.body.id}`, patchOp({ op: "replace", path: "members", value: users.slice(0, 5).map((value) => ({ value })) }));
    expect(half.status).toBeLessThan(300);
    const wipe = await dir.scim("PATCH", `/Groups/${group.body.id}`, patchOp({ op: "replace", path: "members", value: [{ value: users[0] }] }));
    expect(wipe.status).toBe(503);
    expect(wipe.body.detail).toContain("held for review");
    const [row] = await db<{ member_count: string }>("SELECT member_count FROM groups WHERE id = $1", [group.body.id]);
    expect(row!.member_count).toBe("5");
    const brake = (await admin().getDeprovisioningBrake({ directoryId: dir.id })).brake!;
    expect(brake.heldReason).toBe("group_wipe");
  });
});

describe("ordinary leavers", () => {
  it("an ordinary leaver rate is never held, window after window; an Okta deactivate-then-delete counts once", async () => {
    const dir = await createScimDirectory(t, ProviderKind.OKTA);
    const users = await createUsers(dir, 100);
    // At most 6 deprovisions (and 10%) a minute: 5 leavers pass only if a deactivation and
    // the delete that follows it count once.
    await admin().setDeprovisioningPolicy({ directoryId: dir.id, policy: holdPolicy({ maxDeprovisions: 6, maxSharePercent: 10 }) });
    let next = 0;
    for (let minute = 0; minute < 4; minute++) {
      // 5 leavers this minute: deactivated, then deleted (as Okta does).
      for (let i = 0; i < 5; i++) {
        const id = users[next++]!;
        expect([minute, i, (await deactivate(dir, id)).status]).toEqual([minute, i, 200]);
        expect((await dir.scim("DELETE", `/Users/${id}`)).status).toBe(204);
      }
      // A minute passes: the counts move out of the window.
      await db("UPDATE deprovisioning_counts SET bucket = bucket - interval '2 minutes' WHERE directory_id = $1", [dir.id]);
    }
    const brake = (await admin().getDeprovisioningBrake({ directoryId: dir.id })).brake!;
    expect(brake.heldSince).toBeUndefined();
    expect(await brakeEvents(dir.id)).toEqual([]);
    expect(await activeCount(dir.id)).toBe(80);
  });

  it("alert mode records and emits once per window, and refuses nothing", async () => {
    const dir = await createScimDirectory(t, ProviderKind.OKTA);
    const users = await createUsers(dir, 10);
    const alertsBefore = await metric("alerted");
    await admin().setDeprovisioningPolicy({ directoryId: dir.id, policy: holdPolicy({ mode: DeprovisioningMode.ALERT, maxSharePercent: 0, maxDeprovisions: 2 }) });
    const statuses: number[] = [];
    for (const id of users.slice(0, 6)) statuses.push((await deactivate(dir, id)).status);
    expect(statuses).toEqual(Array(6).fill(200));
    expect(await brakeEvents(dir.id)).toEqual(["directory.deprovisioning_alerted"]);
    expect(await metric("alerted")).toBe(alertsBefore + 1);
  });

  it("is off by default: a directory without a policy is never held", async () => {
    const dir = await createScimDirectory(t, ProviderKind.OKTA);
    const users = await createUsers(dir, 5);
    for (const id of users) expect((await dir.scim("DELETE", `/Users/${id}`)).status).toBe(204);
    const brake = (await admin().getDeprovisioningBrake({ directoryId: dir.id })).brake!;
    expect(brake.policy!.mode).toBe(DeprovisioningMode.OFF);
  });

  it("holds survive a restart", async () => {
    const dir = await createScimDirectory(t, ProviderKind.OKTA);
    const users = await createUsers(dir, 3);
    await admin().setDeprovisioningPolicy({ directoryId: dir.id, policy: holdPolicy({ maxSharePercent: 0, maxDeprovisions: 1 }) });
    expect((await deactivate(dir, users[0]!)).status).toBe(200);
    expect((await deactivate(dir, users[1]!)).status).toBe(503);
    await t.restart();
    expect((await deactivate(dir, users[2]!)).status).toBe(503);
  });
});

describe("hostile policy and decision calls", () => {
  it("refuses bad thresholds, unknown directories, other tenants' directories and read keys", async () => {
    const dir = await createScimDirectory(t, ProviderKind.OKTA);
    const other = await createScimDirectory(t, ProviderKind.OKTA);
    const bad = [
      holdPolicy({ maxDeprovisions: -1 }),
      holdPolicy({ maxDeprovisions: 2_000_000_000 }),
      holdPolicy({ maxSharePercent: 101 }),
      holdPolicy({ groupWipePercent: -5 }),
      holdPolicy({ windowSeconds: 0 }),
      holdPolicy({ windowSeconds: 86_401 }),
      holdPolicy({ maxSharePercent: 0 }),
      holdPolicy({ mode: DeprovisioningMode.UNSPECIFIED }),
    ];
    for (const policy of bad) {
      expect((await failureOf(admin().setDeprovisioningPolicy({ directoryId: dir.id, policy }))).code).toBe(Code.InvalidArgument);
    }
    expect((await failureOf(admin().setDeprovisioningPolicy({ directoryId: dir.id }))).code).toBe(Code.InvalidArgument);
    const unknown = "00000000-0000-4000-8000-000000000000";
    expect((await failureOf(admin().setDeprovisioningPolicy({ directoryId: unknown, policy: holdPolicy() }))).code).toBe(Code.NotFound);
    expect((await failureOf(admin().getDeprovisioningBrake({ directoryId: "not-a-uuid" }))).code).toBe(Code.InvalidArgument);
    // No policy: no hold to decide on.
    expect((await failureOf(admin().decideDeprovisioningHold({ directoryId: dir.id, decision: HoldDecision.RELEASE_ONCE }))).code).toBe(Code.InvalidArgument);
    await admin().setDeprovisioningPolicy({ directoryId: dir.id, policy: holdPolicy() });
    for (const req of [
      { decision: HoldDecision.UNSPECIFIED },
      { decision: HoldDecision.RELEASE_FOR, releaseSeconds: 0 },
      { decision: HoldDecision.RELEASE_FOR, releaseSeconds: -60 },
      { decision: HoldDecision.RELEASE_FOR, releaseSeconds: 10_000_000 },
      { decision: HoldDecision.KEEP, note: "x".repeat(501) },
    ]) {
      expect((await failureOf(admin().decideDeprovisioningHold({ directoryId: dir.id, ...req }))).code).toBe(Code.InvalidArgument);
    }

    // A key limited to one directory manages its brake, and cannot see another's.
    const { secret: scoped } = await admin().createApiKey({ name: "tenant", scope: ApiKeyScope.ADMIN, directoryIds: [dir.id] });
    const tenant = t.client(DirectoryService, scoped);
    expect((await tenant.getDeprovisioningBrake({ directoryId: dir.id })).brake!.policy!.mode).toBe(DeprovisioningMode.HOLD);
    expect((await failureOf(tenant.getDeprovisioningBrake({ directoryId: other.id }))).code).toBe(Code.NotFound);
    expect((await failureOf(tenant.setDeprovisioningPolicy({ directoryId: other.id, policy: holdPolicy() }))).code).toBe(Code.NotFound);
    expect((await failureOf(tenant.decideDeprovisioningHold({ directoryId: other.id, decision: HoldDecision.RELEASE_ONCE }))).code).toBe(Code.NotFound);
    // A read key reads the brake but cannot change it.
    const { secret: reader } = await admin().createApiKey({ name: "reader", scope: ApiKeyScope.READ, directoryIds: [] });
    const readOnly = t.client(DirectoryService, reader);
    expect((await readOnly.getDeprovisioningBrake({ directoryId: dir.id })).brake).toBeDefined();
    expect((await failureOf(readOnly.setDeprovisioningPolicy({ directoryId: dir.id, policy: holdPolicy({ mode: DeprovisioningMode.OFF }) }))).code).toBe(Code.PermissionDenied);
    expect((await failureOf(readOnly.decideDeprovisioningHold({ directoryId: dir.id, decision: HoldDecision.RELEASE_ONCE }))).code).toBe(Code.PermissionDenied);
  });
});

describe("cli and event", () => {
  const CLI = path.resolve(import.meta.dirname, "../cli.ts");
  const cli = (...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env: { ...process.env, DATABASE_URL: t.database.url, ROSTER_LOG_LEVEL: "warn" }, timeout: 30_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });

  it("sets the policy, shows the hold and releases it from the command line; the hold event is encoded for consumers", async () => {
    const dir = await createScimDirectory(t, ProviderKind.OKTA);
    const users = await createUsers(dir, 4);
    const set = await cli("brake", "set", "--directory", dir.id, "--mode", "hold", "--window", "120", "--max-deprovisions", "1");
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout).policy).toEqual({ mode: "hold", windowSeconds: 120, maxDeprovisions: 1, maxSharePercent: 0, groupWipePercent: 0 });
    expect((await cli("brake", "set", "--directory", dir.id, "--mode", "hold", "--max-deprovisions", "-3")).code).toBe(2);
    expect((await cli("brake", "set", "--directory", dir.id, "--mode", "sometimes")).code).toBe(2);

    expect((await deactivate(dir, users[0]!)).status).toBe(200);
    expect((await deactivate(dir, users[1]!)).status).toBe(503);
    const shown = JSON.parse((await cli("brake", "get", "--directory", dir.id)).stdout);
    expect(shown.heldReason).toBe("deprovisions");
    expect(shown.deprovisionsInWindow).toBe(1);
    expect((await cli("brake", "keep", "--directory", dir.id, "--note", "asking")).code).toBe(0);
    expect((await deactivate(dir, users[1]!)).status).toBe(503);
    const released = await cli("brake", "release", "--directory", dir.id, "--for", "300");
    expect(released.code).toBe(0);
    expect(JSON.parse(released.stdout).heldSince).toBeNull();
    expect((await deactivate(dir, users[1]!)).status).toBe(200);

    // The hold as EventService and the relay encode it.
    const [row] = await db<Record<string, unknown>>(
      "SELECT seq, id, directory_id, subject_type, subject_id, sequence, type, payload, occurred_at FROM outbox_events WHERE subject_id = $1 AND type = 'directory.deprovisioning_held'",
      [dir.id],
    );
    const stored: StoredEvent = {
      seq: BigInt(row!.seq as string),
      id: row!.id as string,
      directoryId: row!.directory_id as string,
      subjectType: row!.subject_type as StoredEvent["subjectType"],
      subjectId: row!.subject_id as string,
      sequence: BigInt(row!.sequence as string),
      type: row!.type as string,
      payload: row!.payload as Record<string, unknown>,
      occurredAt: row!.occurred_at as Date,
      position: null,
      event: null,
    };
    const event = eventToPb(stored);
    expect(event.subjectType).toBe(SubjectType.DIRECTORY);
    expect(event.sequence).toBe(1n);
    expect(event.payload.case).toBe("deprovisioningHeld");
    if (event.payload.case === "deprovisioningHeld") {
      expect(event.payload.value.reason).toBe("deprovisions");
      expect(event.payload.value.deprovisionsInWindow).toBe(2n);
      expect(event.payload.value.policy!.maxDeprovisions).toBe(1);
    }
  });
});
