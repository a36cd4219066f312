// EventService.SnapshotDirectory and the SDK's resync, through a real server (core, SCIM and
// relay publishing to a real Kafka broker) on real Postgres: snapshots taken while writes run
// concurrently, each replayed with the events after its position, equal the final state.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import fc from "fast-check";
import { toJson } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ApiKeyScope, DirectoryService, GroupSchema, ProviderKind, UserSchema } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { EventService } from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { CanonicalUserSchema } from "@roster/sdk/gen/roster/mapping/v1/mapping_pb.js";
import { applyEvent, isAfterSnapshot, resync, type DirectorySnapshot } from "../../../sdk/src/snapshot.ts";
import { failureOf } from "../../testing/connect.ts";
import { queryDatabase } from "../../testing/database.ts";
import { eventually } from "../../testing/events.ts";
import { uniqueName } from "../../testing/kafka.ts";
import { createScimDirectory } from "../../testing/scim.ts";
import { startTestRoster, type TestRoster } from "../../testing/roster.ts";

let t: TestRoster;

beforeAll(async () => {
  t = await startTestRoster({
    ROSTER_ROLES: "core,scim,relay",
    ROSTER_USER_TOPIC: uniqueName("roster-test-snapshot-users"),
    ROSTER_GROUP_TOPIC: uniqueName("roster-test-snapshot-groups"),
    KAFKA_TOPIC_PARTITIONS: "1",
    ROSTER_RELAY_POLL_MS: "20",
  });
});

afterAll(async () => {
  await t?.stop();
});

const admin = () => t.client(DirectoryService);
const events = () => t.client(EventService);

/** What a snapshot says, in a comparable form. */
function normalize(s: DirectorySnapshot) {
  const byId = <T>(m: Map<string, T>) => [...m.entries()].sort(([a], [b]) => a.localeCompare(b));
  return {
    users: byId(s.users).map(([id, u]) => [id, toJson(UserSchema, u.user), u.canonical ? toJson(CanonicalUserSchema, u.canonical) : null]),
    groups: byId(s.groups).map(([id, g]) => [id, toJson(GroupSchema, g)]),
    members: byId(s.members).map(([id, m]) => [id, [...m].sort()]),
  };
}

/**
 * Reads the events after the snapshot's cursor and applies them, checking that each subject's
 * applied events continue exactly from its version in the snapshot (none missed, none twice).
 */
async function replay(s: DirectorySnapshot): Promise<void> {
  let cursor = s.cursor;
  const applied = new Map<string, bigint>();
  for (;;) {
    const page = await events().listEvents({ directoryId: s.directoryId, cursor, pageSize: 1000 });
    for (const e of page.events) {
      if (!isAfterSnapshot(s, e)) continue;
      const previous = applied.get(e.subjectId) ?? (s.users.get(e.subjectId)?.user.version ?? s.groups.get(e.subjectId)?.version ?? 0n);
      expect(`${e.subjectId}: ${e.sequence}`).toBe(`${e.subjectId}: ${previous + 1n}`);
      applied.set(e.subjectId, e.sequence);
      applyEvent(s, e);
    }
    if (page.events.length === 0) return;
    cursor = page.nextCursor;
  }
}

async function published(directoryId: string): Promise<void> {
  await eventually(async () => {
    const [row] = await queryDatabase<{ n: string }>(t.database.url, "SELECT count(*) AS n FROM outbox_pending WHERE directory_id = $1", [directoryId]);
    return row!.n === "0";
  }, 20_000, "every event published");
}

type Op =
  | { kind: "createUser" }
  | { kind: "updateUser" | "deactivate" | "reactivate" | "deleteUser"; u: number }
  | { kind: "addMember" | "removeMember"; g: number; u: number }
  | { kind: "replaceMembers"; g: number; us: number[] }
  | { kind: "createGroup" | "renameGroup" | "deleteGroup"; g: number };

const index = fc.nat(50);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.constant({ kind: "createUser" as const }),
  fc.record({ kind: fc.constantFrom("updateUser" as const, "deactivate" as const, "reactivate" as const, "deleteUser" as const), u: index }),
  fc.record({ kind: fc.constantFrom("addMember" as const, "removeMember" as const), g: index, u: index }),
  fc.record({ kind: fc.constant("replaceMembers" as const), g: index, us: fc.array(index, { maxLength: 5 }) }),
  fc.record({ kind: fc.constantFrom("createGroup" as const, "renameGroup" as const, "deleteGroup" as const), g: index }),
);

let counter = 0;

async function run(directoryId: string, users: string[], groups: string[], o: Op): Promise<void> {
  const c = admin();
  const u = (i: number) => users[i % users.length]!;
  const g = (i: number) => groups[i % groups.length]!;
  const n = ++counter;
  try {
    switch (o.kind) {
      case "createUser":
        users.push((await c.createUser({ directoryId, resource: { userName: `p${n}@example.com`, active: true } })).user!.id);
        return;
      case "updateUser":
        await c.replaceUser({ directoryId, id: u(o.u), resource: { userName: `r${n}@example.com`, displayName: `R ${n}`, active: true } });
        return;
      case "deactivate":
        await c.deactivateUser({ directoryId, id: u(o.u) });
        return;
      case "reactivate":
        await c.reactivateUser({ directoryId, id: u(o.u) });
        return;
      case "deleteUser":
        await c.deleteUser({ directoryId, id: u(o.u) });
        return;
      case "addMember":
        await c.addGroupMembers({ directoryId, groupId: g(o.g), userIds: [u(o.u)] });
        return;
      case "removeMember":
        await c.removeGroupMembers({ directoryId, groupId: g(o.g), userIds: [u(o.u)] });
        return;
      case "replaceMembers":
        await c.replaceGroupMembers({ directoryId, groupId: g(o.g), userIds: [...new Set(o.us.map(u))] });
        return;
      case "createGroup":
        groups.push((await c.createGroup({ directoryId, resource: { displayName: `g${n}` }, memberUserIds: [u(o.g)] })).group!.id);
        return;
      case "renameGroup":
        await c.updateGroup({ directoryId, id: g(o.g), resource: { displayName: `renamed ${n}` } });
        return;
      case "deleteGroup":
        await c.deleteGroup({ directoryId, id: g(o.g) });
        return;
    }
  } catch (error) {
    // Writes on deleted subjects, members that were deleted, renames to a taken name: refused
    // cleanly, which is part of what runs concurrently with the snapshots.
    const code = ConnectError.from(error).code;
    if ([Code.NotFound, Code.InvalidArgument, Code.AlreadyExists, Code.Aborted].includes(code)) return;
    throw error;
  }
}

describe("SnapshotDirectory", () => {
  it("snapshot + the events after its position equals the final state, with writes running during the snapshots", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 20, maxLength: 50 }), fc.integer({ min: 2, max: 4 }), async (ops, snapshotCount) => {
        const { directory } = await admin().createDirectory({ name: `snapshot ${++counter}`, provider: ProviderKind.GENERIC });
        const directoryId = directory!.id;
        const users: string[] = [];
        const groups: string[] = [];
        for (let i = 0; i < 4; i++) await run(directoryId, users, groups, { kind: "createUser" });
        await run(directoryId, users, groups, { kind: "createGroup", g: 0 });
        // Three writers in parallel, and the snapshots taken among them.
        const lanes = [0, 1, 2].map(async (lane) => {
          for (let i = lane; i < ops.length; i += 3) await run(directoryId, users, groups, ops[i]!);
        });
        const snapshots: DirectorySnapshot[] = [];
        const taking = (async () => {
          for (let i = 0; i < snapshotCount; i++) {
            snapshots.push(await resync(events(), directoryId));
            await new Promise((resolve) => setTimeout(resolve, 15));
          }
        })();
        await Promise.all([...lanes, taking]);
        await published(directoryId);
        const final = await resync(events(), directoryId);
        const expected = normalize(final);
        for (const s of snapshots) {
          await replay(s);
          expect(normalize(s)).toEqual(expected);
        }
      }),
      { numRuns: 4 },
    );
  }, 120_000);

  it("sends a large group's members in bounded chunks, after the position and the users", async () => {
    const { directory } = await admin().createDirectory({ name: "big", provider: ProviderKind.GENERIC });
    const directoryId = directory!.id;
    const ids = await queryDatabase<{ id: string }>(
      t.database.url,
      `INSERT INTO users (id, directory_id, user_name, active, state, resource, version, created_at, updated_at)
       SELECT gen_random_uuid(), $1, 'bulk' || i || '@example.com', true, 'active', jsonb_build_object('userName', 'bulk' || i || '@example.com'), 1, now(), now()
         FROM generate_series(1, 2500) AS i RETURNING id`,
      [directoryId],
    );
    const { group } = await admin().createGroup({ directoryId, resource: { displayName: "everyone" }, memberUserIds: ids.map((r) => r.id) });
    const kinds: string[] = [];
    let largest = 0;
    for await (const { item } of events().snapshotDirectory({ directoryId })) {
      kinds.push(item.case ?? "");
      if (item.case === "members") largest = Math.max(largest, item.value.userIds.length);
    }
    expect(kinds[0]).toBe("position");
    expect(kinds.filter((k) => k === "user")).toHaveLength(2500);
    expect(kinds.filter((k) => k === "members")).toHaveLength(3);
    expect(largest).toBe(1000);
    const s = await resync(events(), directoryId);
    expect(s.members.get(group!.id)!.size).toBe(2500);
  }, 60_000);

  it("stalled snapshots hold no connection that another tenant's writes or snapshots need", async () => {
    // 50 readers that never read: a snapshot waits for its reader, its transaction open, for
    // up to a minute. Over HTTP/2, flow control stops a stream's sending after 64 KiB.
    const seeded = async (name: string) => {
      const { directory } = await admin().createDirectory({ name, provider: ProviderKind.GENERIC });
      await queryDatabase(
        t.database.url,
        `INSERT INTO users (id, directory_id, user_name, active, state, resource, version, created_at, updated_at)
         SELECT gen_random_uuid(), $1, 'stall' || i || '@example.com', true, 'active',
                jsonb_build_object('userName', 'stall' || i || '@example.com', 'title', repeat('x', 200)), 1, now(), now()
           FROM generate_series(1, 5000) AS i`,
        [directory!.id],
      );
      return directory!.id;
    };
    const directoryId = await seeded("stalled readers");
    const transport = createConnectTransport({
      baseUrl: t.url,
      httpVersion: "2",
      interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${t.adminKey}`), next(req))],
    });
    const stalled = new AbortController();
    const consoleErrors = vi.spyOn(console, "error");
    const refusals: Code[] = [];
    const stallingReader = async (of = directoryId) => {
      const stream = t.client(EventService, undefined, transport).snapshotDirectory({ directoryId: of }, { signal: stalled.signal });
      try {
        await stream[Symbol.asyncIterator]().next();
      } catch (error) {
        if (!stalled.signal.aborted) refusals.push(ConnectError.from(error).code);
      }
    };
    const readers = Array.from({ length: 50 }, () => stallingReader());
    const openSnapshots = () =>
      queryDatabase<{ n: number }>(
        t.database.url,
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'roster-snapshots' AND state = 'idle in transaction'",
      );
    // One runs, MAX_WAITING_SNAPSHOTS (4) wait their turn, the rest are refused at once.
    await eventually(() => refusals.length === 45, 20_000, "the snapshots past the waiting ones to be refused");
    expect(new Set(refusals)).toEqual(new Set([Code.ResourceExhausted]));
    await eventually(async () => (await openSnapshots())[0]!.n === 1, 20_000, "the snapshot to open");
    await new Promise((resolve) => setTimeout(resolve, 500));
    try {
      expect((await openSnapshots())[0]!.n).toBe(1);
      // Another tenant writes, reads its events and takes its snapshot at once, not after the
      // stalled readers' minute.
      const within = <T>(what: string, p: Promise<T>) =>
        Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} waited for the stalled snapshots`)), 5_000))]);
      const other = await within("creating a directory", createScimDirectory(t, ProviderKind.OKTA));
      for (let i = 0; i < 20; i++) expect((await within("a SCIM create", other.scim("POST", "/Users", { userName: `busy${i}@example.com` }))).status).toBe(201);
      await published(other.id);
      expect((await within("ListEvents", events().listEvents({ directoryId: other.id, pageSize: 100 }))).events).toHaveLength(20);
      for (let i = 0; i < 3; i++) expect((await within("a snapshot", resync(events(), other.id))).users.size).toBe(20);
      // A second directory's stalled reader takes the other snapshot connection: SCIM writes
      // and ListEvents, on pools of their own, still answer at once.
      readers.push(stallingReader(await seeded("more stalled readers")));
      await eventually(async () => (await openSnapshots())[0]!.n === 2, 20_000, "the second directory's snapshot to open");
      for (let i = 20; i < 25; i++) expect((await within("a SCIM create", other.scim("POST", "/Users", { userName: `busy${i}@example.com` }))).status).toBe(201);
      await published(other.id);
      expect((await within("ListEvents", events().listEvents({ directoryId: other.id, pageSize: 100 }))).events).toHaveLength(25);
    } finally {
      stalled.abort();
      await Promise.all(readers);
    }
    // Once the stalled readers are gone (the waiting ones leave the line with them), the
    // directory's snapshots run again.
    expect((await resync(events(), directoryId)).users.size).toBe(5000);
    // Readers that went away are a debug line in the service's log, not an error on stderr.
    const logged = t.logs.join("").split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as { level: number; msg: string; procedure?: string });
    const snapshotLines = logged.filter((l) => l.procedure === "roster.events.v1.EventService/SnapshotDirectory");
    expect(snapshotLines.some((l) => l.msg === "RPC client went away before the response ended")).toBe(true);
    expect(snapshotLines.filter((l) => l.msg === "RPC response not delivered")).toEqual([]);
    expect(consoleErrors.mock.calls.filter(([first]) => String(first).startsWith("handler for rpc"))).toEqual([]);
    consoleErrors.mockRestore();
  }, 60_000);

  it("refuses unknown directories, malformed ids and another tenant's directory", async () => {
    const { directory: a } = await admin().createDirectory({ name: "tenant a", provider: ProviderKind.GENERIC });
    const { directory: b } = await admin().createDirectory({ name: "tenant b", provider: ProviderKind.GENERIC });
    expect((await failureOf(resync(events(), "00000000-0000-4000-8000-000000000000"))).code).toBe(Code.NotFound);
    expect((await failureOf(resync(events(), "not-a-uuid"))).code).toBe(Code.InvalidArgument);
    const { secret } = await admin().createApiKey({ name: "a only", scope: ApiKeyScope.READ, directoryIds: [a!.id] });
    const scoped = t.client(EventService, secret);
    expect((await resync(scoped, a!.id)).users.size).toBe(0);
    expect((await failureOf(resync(scoped, b!.id))).code).toBe(Code.NotFound);
  });
});
