// Consumers acknowledge, Roster measures revocation: through the real server (relay on the
// real broker), the SDK's subscribe and Kafka consumer, and the ConsumerService RPCs. A
// consumer that stalls on a leaver sees it listed as unrevoked once its objective passes, and
// the listing empties once it acknowledges; the latency lands in the histogram.
import { randomUUID } from "node:crypto";
import { Kafka, logLevel } from "kafkajs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { ApiKeyScope, ProviderKind } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { ConsumerService } from "@roster/sdk/gen/roster/consumers/v1/consumers_pb.js";
import { GroupMatch, RemapJobState } from "@roster/sdk/gen/roster/mapping/v1/mapping_pb.js";
import { createLifecycleConsumer, createRosterClients, isEvent, memoryCursorStore, subscribe, type RosterClients } from "../../../sdk/src/index.ts";
import { startTestRoster, type TestRoster } from "../../testing/roster.ts";
import { runRevocationWorker } from "../../../sdk/examples/revocation-worker.ts";
import { testKafkaBrokers, uniqueName } from "../../testing/kafka.ts";
import { failureOf } from "../../testing/connect.ts";
import { encodeCursor } from "./event-service.ts";
import { encodePageToken } from "../domain/paging.ts";

const USER_TOPIC = uniqueName("roster-consumers-users");
const GROUP_TOPIC = uniqueName("roster-consumers-groups");
let t: TestRoster;
let sdk: RosterClients;

beforeAll(async () => {
  t = await startTestRoster({
    ROSTER_ROLES: "core,scim,relay",
    ROSTER_USER_TOPIC: USER_TOPIC,
    ROSTER_GROUP_TOPIC: GROUP_TOPIC,
    ROSTER_RELAY_POLL_MS: "20",
    ROSTER_STREAM_POLL_MS: "50",
    ROSTER_CONSUMER_CHECK_MS: "200",
  });
  sdk = createRosterClients({ baseUrl: t.url, apiKey: t.adminKey });
}, 60_000);

afterAll(async () => {
  await t?.stop();
});

async function newDirectory(): Promise<string> {
  const { directory } = await sdk.directory.createDirectory({ name: uniqueName("consumers"), provider: ProviderKind.OKTA });
  return directory!.id;
}

async function createUser(directoryId: string, name: string): Promise<string> {
  const { user } = await sdk.directory.createUser({ directoryId, resource: { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: `${name}@example.com` } });
  return user!.id;
}

async function metrics(): Promise<string> {
  return (await fetch(`${t.url}/metrics`)).text();
}

function metric(text: string, name: string, labels: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

async function overdueUsers(directoryId: string, name: string): Promise<string[]> {
  return (await sdk.consumers.listUnrevokedUsers({ directoryId, name })).users.map((u) => u.userId);
}

/** A handler that waits on the gate for each leaver until the gate opens. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

describe("a StreamEvents consumer", () => {
  it("that stalls on leavers has them listed as unrevoked past its objective, then revoked once it acknowledges", async () => {
    const directoryId = await newDirectory();
    await sdk.consumers.registerConsumer({ directoryId, name: "stalls", owner: "security team", objectiveSeconds: 1 });
    const ada = await createUser(directoryId, "ada");
    const bob = await createUser(directoryId, "bob");
    const carol = await createUser(directoryId, "carol");
    const stall = gate();
    const controller = new AbortController();
    const handled: string[] = [];
    const worker = (async () => {
      const stream = subscribe(sdk.events, {
        directoryId,
        signal: controller.signal,
        acknowledge: { client: sdk.consumers, consumer: "stalls", intervalMs: 50 },
      });
      for await (const { event } of stream) {
        if (isEvent(event, "userDeactivated", "userDeleted")) await stall.wait;
        handled.push(`${event.type}:${event.subjectId}`);
      }
    })();
    await sdk.directory.deactivateUser({ directoryId, id: ada });
    await sdk.directory.deleteUser({ directoryId, id: bob });
    // Listed on request from their publication on, overdue or not.
    await expect
      .poll(async () => (await sdk.consumers.listUnrevokedUsers({ directoryId, name: "stalls", includeWithinObjective: true })).users.map((u) => u.userId), { timeout: 10_000 })
      .toEqual([ada, bob]);

    // Past it: both, oldest first, and the metrics say so.
    await expect.poll(() => overdueUsers(directoryId, "stalls"), { timeout: 15_000 }).toEqual([ada, bob]);
    const listed = await sdk.consumers.listUnrevokedUsers({ directoryId, name: "stalls" });
    expect(listed.users.map((u) => [u.eventType, u.overdue])).toEqual([["user.deactivated", true], ["user.deleted", true]]);
    expect(listed.users[0]!.waitingSeconds).toBeGreaterThan(1);
    const labels = `directory="${directoryId}",consumer="stalls"`;
    await expect.poll(async () => metric(await metrics(), "roster_consumer_unrevoked_users", labels), { timeout: 10_000 }).toBe(2);
    await expect.poll(async () => metric(await metrics(), "roster_consumer_objective_missed_total", labels), { timeout: 10_000 }).toBe(2);
    // carol is no leaver: the user.created events before ada's were handled and acknowledged.
    expect(handled).toContain(`user.created:${carol}`);
    expect((await sdk.consumers.getConsumer({ directoryId, name: "stalls" })).consumer?.revokedUsers).toBe(0n);

    stall.open();
    await expect.poll(() => overdueUsers(directoryId, "stalls"), { timeout: 10_000 }).toEqual([]);
    const { consumer } = await sdk.consumers.getConsumer({ directoryId, name: "stalls" });
    expect(consumer?.revokedUsers).toBe(2n);
    expect(consumer?.revocationSecondsMax).toBeGreaterThan(1);
    // Missed once each: while overdue, not again when acknowledged late.
    expect(consumer?.objectiveMissedUsers).toBe(2n);
    const text = await metrics();
    expect(metric(text, "roster_consumer_revocation_seconds_count", labels)).toBe(2);
    expect(metric(text, "roster_consumer_revocation_seconds_bucket", `directory="${directoryId}",consumer="stalls",le="1"`)).toBe(0);
    expect(metric(text, "roster_consumer_objective_missed_total", labels)).toBe(2);
    await expect.poll(async () => metric(await metrics(), "roster_consumer_unrevoked_users", labels), { timeout: 10_000 }).toBe(0);
    controller.abort();
    await worker;
  }, 60_000);

  it("that keeps up revokes within its objective: nothing missed, nothing listed", async () => {
    const directoryId = await newDirectory();
    await sdk.consumers.registerConsumer({ directoryId, name: "prompt", owner: "iam", objectiveSeconds: 300 });
    const controller = new AbortController();
    const worker = (async () => {
      for await (const _ of subscribe(sdk.events, { directoryId, signal: controller.signal, acknowledge: { client: sdk.consumers, consumer: "prompt", intervalMs: 20 } })) {
        // applied at once
      }
    })();
    const dan = await createUser(directoryId, "dan");
    await sdk.directory.deactivateUser({ directoryId, id: dan });
    await expect.poll(async () => (await sdk.consumers.getConsumer({ directoryId, name: "prompt" })).consumer?.revokedUsers, { timeout: 10_000 }).toBe(1n);
    const { consumer } = await sdk.consumers.getConsumer({ directoryId, name: "prompt" });
    expect(consumer?.objectiveMissedUsers).toBe(0n);
    expect(consumer?.revocationSecondsMax).toBeLessThan(10);
    expect((await sdk.consumers.listUnrevokedUsers({ directoryId, name: "prompt", includeWithinObjective: true })).users).toEqual([]);
    controller.abort();
    await worker;
  }, 30_000);
});

describe("leavers", () => {
  it("are deactivations, deletions and role changes that leave no role, nothing else", async () => {
    const directoryId = await newDirectory();
    const { job } = await sdk.mapping.updateMapping({ directoryId, roleRules: [{ match: GroupMatch.EXTERNAL_ID, value: "ext-ops", roles: ["ops"] }, { match: GroupMatch.EXTERNAL_ID, value: "ext-dev", roles: ["dev"] }] });
    await expect.poll(async () => (await sdk.mapping.getRemapJob({ directoryId, id: job!.id })).job?.state, { timeout: 10_000 }).not.toBe(RemapJobState.RUNNING);
    await sdk.consumers.registerConsumer({ directoryId, name: "idle", owner: "o", objectiveSeconds: 3600 });
    const ivan = await createUser(directoryId, "ivan");
    const judy = await createUser(directoryId, "judy");
    const ops = (await sdk.directory.createGroup({ directoryId, resource: { displayName: "Ops", externalId: "ext-ops" }, memberUserIds: [ivan, judy] })).group!.id;
    const dev = (await sdk.directory.createGroup({ directoryId, resource: { displayName: "Dev", externalId: "ext-dev" }, memberUserIds: [judy] })).group!.id;
    // ivan loses his only role: a leaver. judy keeps "dev": not one, until she loses it too.
    await sdk.directory.removeGroupMembers({ directoryId, groupId: ops, userIds: [ivan, judy] });
    const listed = async () => (await sdk.consumers.listUnrevokedUsers({ directoryId, name: "idle", includeWithinObjective: true })).users.map((u) => `${u.eventType}:${u.userId}`);
    await expect.poll(listed, { timeout: 10_000 }).toEqual([`user.roles_changed:${ivan}`]);
    await sdk.directory.removeGroupMembers({ directoryId, groupId: dev, userIds: [judy] });
    await expect.poll(listed, { timeout: 10_000 }).toEqual([`user.roles_changed:${ivan}`, `user.roles_changed:${judy}`]);
  }, 30_000);
});

describe("subscribe's acknowledgements", () => {
  it("report the last event whose handler returned when the loop ends, never the one whose handler threw", async () => {
    const directoryId = await newDirectory();
    await sdk.consumers.registerConsumer({ directoryId, name: "throws", owner: "o", objectiveSeconds: 60 });
    const hana = await createUser(directoryId, "hana");
    await sdk.directory.deactivateUser({ directoryId, id: hana });
    let lastHandled = 0n;
    // A long interval: only the report made when the loop ends can carry the progress.
    const failed = await (async () => {
      for await (const { event } of subscribe(sdk.events, { directoryId, acknowledge: { client: sdk.consumers, consumer: "throws", intervalMs: 600_000 } })) {
        if (isEvent(event, "userDeactivated")) throw new Error("revocation failed");
        lastHandled = event.position;
      }
    })().then(() => undefined, (error: unknown) => error);
    expect(failed).toBeInstanceOf(Error);
    expect(lastHandled).toBeGreaterThan(0n);
    const { consumer } = await sdk.consumers.getConsumer({ directoryId, name: "throws" });
    expect(consumer?.acknowledgedPosition).toBe(lastHandled);
    const all = await sdk.consumers.listUnrevokedUsers({ directoryId, name: "throws", includeWithinObjective: true });
    expect(all.users.map((u) => [u.userId, u.eventType, u.overdue])).toEqual([[hana, "user.deactivated", false]]);
    // Within its 60 s objective: not listed by default.
    expect((await sdk.consumers.listUnrevokedUsers({ directoryId, name: "throws" })).users).toEqual([]);
  }, 30_000);
});

describe("the SDK's revocation worker example", () => {
  it("acknowledges as its registered consumer, which shows its revocation latency", async () => {
    const directoryId = await newDirectory();
    await sdk.consumers.registerConsumer({ directoryId, name: "revocation-worker", owner: "security", objectiveSeconds: 300 });
    // Its key may only read: acknowledging is allowed to a read key.
    const { secret } = await sdk.directory.createApiKey({ name: "worker", scope: ApiKeyScope.READ, directoryIds: [directoryId] });
    const worker = createRosterClients({ baseUrl: t.url, apiKey: secret });
    const revoked: string[] = [];
    const controller = new AbortController();
    const done = runRevocationWorker({
      events: worker.events,
      directoryId,
      cursors: memoryCursorStore(),
      signal: controller.signal,
      revoker: { revoke: async (user, reason) => void revoked.push(`${user.id}:${reason}`) },
      acknowledge: { client: worker.consumers, consumer: "revocation-worker", intervalMs: 50 },
    });
    const frank = await createUser(directoryId, "frank");
    const grace = await createUser(directoryId, "grace");
    await sdk.directory.deactivateUser({ directoryId, id: frank });
    await sdk.directory.deleteUser({ directoryId, id: grace });
    await expect.poll(async () => (await sdk.consumers.getConsumer({ directoryId, name: "revocation-worker" })).consumer?.revokedUsers, { timeout: 10_000 }).toBe(2n);
    expect(revoked).toEqual([`${frank}:deactivated`, `${grace}:deleted`]);
    const { consumer } = await sdk.consumers.getConsumer({ directoryId, name: "revocation-worker" });
    expect(consumer?.revocationSecondsMax).toBeGreaterThan(0);
    expect(consumer?.revocationSecondsMax).toBeLessThan(300);
    expect(consumer?.objectiveMissedUsers).toBe(0n);
    console.log(`revocation-worker over StreamEvents: ${consumer?.revokedUsers} leavers, mean ${(consumer!.revocationSecondsSum / 2).toFixed(3)} s, max ${consumer!.revocationSecondsMax.toFixed(3)} s`);
    expect(metric(await metrics(), "roster_consumer_revocation_seconds_count", `directory="${directoryId}",consumer="revocation-worker"`)).toBe(2);
    controller.abort();
    await done;
  }, 30_000);
});

describe("a Kafka consumer", () => {
  it("is acknowledged by its group's committed offsets: a stalled group's leaver is listed, then revoked", async () => {
    const directoryId = await newDirectory();
    const groupId = uniqueName("roster-consumers-group");
    await sdk.consumers.registerConsumer({ directoryId, name: "kafka-mirror", owner: "iam", objectiveSeconds: 1, kafkaGroupId: groupId });
    const eve = await createUser(directoryId, "eve");
    const stall = gate();
    const kafka = new Kafka({ clientId: "roster-consumers-test", brokers: testKafkaBrokers(), logLevel: logLevel.NOTHING });
    const lifecycle = createLifecycleConsumer(kafka, {
      groupId,
      topics: [USER_TOPIC],
      acknowledgeIntervalMs: 100,
      consumerConfig: { maxWaitTimeInMs: 50 },
      onEvent: async (event) => {
        if (event.directoryId === directoryId && isEvent(event, "userDeactivated")) await stall.wait;
      },
    });
    await lifecycle.start();
    await sdk.directory.deactivateUser({ directoryId, id: eve });
    await expect.poll(() => overdueUsers(directoryId, "kafka-mirror"), { timeout: 30_000 }).toEqual([eve]);
    // Its progress is the broker's to report, not the consumer's.
    const refused = await failureOf(sdk.consumers.acknowledgeEvents({ directoryId, name: "kafka-mirror", cursor: encodeCursor(1n) }));
    expect(refused.code).toBe(Code.FailedPrecondition);

    stall.open();
    await expect.poll(() => overdueUsers(directoryId, "kafka-mirror"), { timeout: 30_000 }).toEqual([]);
    const { consumer } = await sdk.consumers.getConsumer({ directoryId, name: "kafka-mirror" });
    expect(consumer?.revokedUsers).toBe(1n);
    expect(consumer?.revocationSecondsMax).toBeGreaterThan(1);
    expect(metric(await metrics(), "roster_consumer_revocation_seconds_count", `directory="${directoryId}",consumer="kafka-mirror"`)).toBe(1);
    await lifecycle.stop();
  }, 90_000);
});

describe("hostile input", () => {
  it("refuses bad names, owners, objectives and group ids, unknown consumers, garbage and future cursors", async () => {
    const directoryId = await newDirectory();
    const register = (over: Record<string, unknown>) => sdk.consumers.registerConsumer({ directoryId, name: "ok", owner: "o", objectiveSeconds: 300, ...over });
    for (const bad of [{ name: "" }, { name: "x".repeat(101) }, { name: "a b" }, { name: "é" }, { owner: "o".repeat(201) }, { owner: "a\u0000b" },
      { objectiveSeconds: 0 }, { objectiveSeconds: -5 }, { objectiveSeconds: 604_801 }, { kafkaGroupId: "g".repeat(250) }, { kafkaGroupId: "a/b" }]) {
      const refused = await failureOf(register(bad));
      expect(refused.code, JSON.stringify(bad).slice(0, 80)).toBe(Code.InvalidArgument);
      expect(refused.message.length).toBeLessThan(300);
    }
    expect((await failureOf(register({ directoryId: "not-a-uuid" }))).code).toBe(Code.InvalidArgument);
    expect((await failureOf(register({ directoryId: randomUUID() }))).code).toBe(Code.NotFound);
    await register({});
    expect((await failureOf(sdk.consumers.getConsumer({ directoryId, name: "nobody" }))).code).toBe(Code.NotFound);
    expect((await failureOf(sdk.consumers.acknowledgeEvents({ directoryId, name: "nobody", cursor: encodeCursor(0n) }))).code).toBe(Code.NotFound);
    expect((await failureOf(sdk.consumers.deleteConsumer({ directoryId, name: "nobody" }))).code).toBe(Code.NotFound);
    expect((await failureOf(sdk.consumers.acknowledgeEvents({ directoryId, name: "ok", cursor: "garbage" }))).code).toBe(Code.InvalidArgument);
    expect((await failureOf(sdk.consumers.acknowledgeEvents({ directoryId, name: "ok", cursor: "" }))).code).toBe(Code.InvalidArgument);
    const ahead = await failureOf(sdk.consumers.acknowledgeEvents({ directoryId, name: "ok", cursor: encodeCursor(9_000_000_000_000_000_000n) }));
    expect(ahead.code).toBe(Code.OutOfRange);
    expect((await failureOf(sdk.consumers.listUnrevokedUsers({ directoryId, name: "ok", pageSize: 1001 }))).code).toBe(Code.InvalidArgument);
    expect((await failureOf(sdk.consumers.listUnrevokedUsers({ directoryId, name: "ok", pageToken: "x".repeat(10_000) }))).code).toBe(Code.InvalidArgument);
    // Well-formed, but past what a Postgres bigint holds: refused, never a database error.
    const beyondBigint = encodePageToken({ p: "9999999999999999999" });
    expect((await failureOf(sdk.consumers.listUnrevokedUsers({ directoryId, name: "ok", pageToken: beyondBigint }))).code).toBe(Code.InvalidArgument);
    expect((await failureOf(sdk.consumers.acknowledgeEvents({ directoryId, name: "ok", cursor: beyondBigint }))).code).toBe(Code.InvalidArgument);
    // An acknowledgement behind the last one changes nothing.
    const { consumer } = await sdk.consumers.getConsumer({ directoryId, name: "ok" });
    const back = await sdk.consumers.acknowledgeEvents({ directoryId, name: "ok", cursor: encodeCursor(0n) });
    expect(back.consumer?.acknowledgedPosition).toBe(consumer?.acknowledgedPosition);
    // Registering again updates it in place.
    expect((await register({ owner: "new owner" })).consumer?.owner).toBe("new owner");
    expect((await sdk.consumers.listConsumers({ directoryId })).consumers.map((c) => c.name)).toEqual(["ok"]);
    await sdk.consumers.deleteConsumer({ directoryId, name: "ok" });
    expect((await sdk.consumers.listConsumers({ directoryId })).consumers).toEqual([]);
  });

  it("holds at most 100 consumers per directory", async () => {
    const directoryId = await newDirectory();
    for (let i = 0; i < 100; i++) await sdk.consumers.registerConsumer({ directoryId, name: `c${i}`, owner: "o", objectiveSeconds: 60 });
    expect((await failureOf(sdk.consumers.registerConsumer({ directoryId, name: "one-too-many", owner: "o", objectiveSeconds: 60 }))).code).toBe(Code.InvalidArgument);
    expect((await sdk.consumers.listConsumers({ directoryId })).consumers).toHaveLength(100);
  }, 30_000);

  it("global consumers are for global keys only; a key limited to a directory sees its own consumers", async () => {
    const a = await newDirectory();
    const b = await newDirectory();
    await sdk.consumers.registerConsumer({ directoryId: a, name: "mine", owner: "a", objectiveSeconds: 60 });
    await sdk.consumers.registerConsumer({ directoryId: b, name: "theirs", owner: "b", objectiveSeconds: 60 });
    await sdk.consumers.registerConsumer({ name: uniqueName("global"), owner: "ops", objectiveSeconds: 60 });
    const { secret } = await sdk.directory.createApiKey({ name: "a only", scope: ApiKeyScope.ADMIN, directoryIds: [a] });
    const limited = t.client(ConsumerService, secret);
    expect((await limited.listConsumers({ directoryId: a })).consumers.map((c) => c.name)).toEqual(["mine"]);
    expect(await failureOf(limited.listConsumers({ directoryId: b }))).toEqual({ code: Code.NotFound, message: `directory ${b} not found` });
    expect((await failureOf(limited.listConsumers({ directoryId: "" }))).code).toBe(Code.PermissionDenied);
    expect((await failureOf(limited.registerConsumer({ directoryId: "", name: "sneaky", owner: "a", objectiveSeconds: 60 }))).code).toBe(Code.PermissionDenied);
    expect((await sdk.consumers.listConsumers({})).consumers.length).toBeGreaterThan(0);
  });
});

describe("at scale", () => {
  it("measures 100,000 leavers revoked by one acknowledgement in one bounded statement", async () => {
    // A directory of its own, and leaver rows written straight into the log above every
    // position assigned, with the relay's lease moved past them in the same transaction (the
    // relay, fenced by the move, takes its lease again from there).
    const directoryId = await newDirectory();
    await sdk.consumers.registerConsumer({ directoryId, name: "bulk", owner: "o", objectiveSeconds: 60 });
    const client = new pg.Client({ connectionString: t.database.url });
    await client.connect();
    let base: bigint;
    let writtenAt: number;
    try {
      await client.query("BEGIN");
      await client.query("SELECT 1 FROM relay_leases FOR UPDATE");
      const { rows } = await client.query<{ head: string }>("SELECT GREATEST((SELECT max(position) FROM relay_leases), (SELECT max(position) FROM event_positions), 0)::text AS head");
      base = BigInt(rows[0]!.head);
      // now() is the transaction's start: every event occurred 0..119 s before it.
      const { rows: [start] } = await client.query<{ ms: string }>("SELECT (extract(epoch FROM now()) * 1000)::text AS ms");
      writtenAt = Number(start!.ms);
      await client.query(
        `WITH added AS (
           INSERT INTO outbox_events (id, directory_id, subject_type, subject_id, sequence, type, payload, occurred_at)
           SELECT gen_random_uuid(), $1, 'user', gen_random_uuid(), 2, 'user.deactivated', '{}'::jsonb, now() - make_interval(secs => (i % 120))
             FROM generate_series(1, 100000) AS i ORDER BY i
           RETURNING seq, directory_id)
         INSERT INTO event_positions (position, seq, directory_id)
         SELECT $2::bigint + row_number() OVER (ORDER BY seq), seq, directory_id FROM added`,
        [directoryId, base.toString()],
      );
      // Published: off the relay's queue (the insert trigger put them there).
      await client.query("DELETE FROM outbox_pending p USING event_positions e WHERE e.seq = p.seq AND e.position > $1", [base.toString()]);
      await client.query("UPDATE relay_leases SET position = $1", [(base + 100_000n).toString()]);
      await client.query("COMMIT");
    } finally {
      await client.end();
    }
    const firstPage = await sdk.consumers.listUnrevokedUsers({ directoryId, name: "bulk", pageSize: 1000, includeWithinObjective: true });
    expect(firstPage.users).toHaveLength(1000);
    expect(firstPage.users[0]!.position).toBe(base + 1n);
    const second = await sdk.consumers.listUnrevokedUsers({ directoryId, name: "bulk", pageSize: 1000, pageToken: firstPage.nextPageToken, includeWithinObjective: true });
    expect(second.users[0]!.position).toBe(base + 1001n);
    // Past the objective only: the oldest overdue first (those 60 s or more old).
    const overdue = await sdk.consumers.listUnrevokedUsers({ directoryId, name: "bulk", pageSize: 10 });
    expect(overdue.users.every((u) => u.overdue && u.waitingSeconds > 60)).toBe(true);

    const started = performance.now();
    const ackStart = Date.now();
    const ack = await sdk.consumers.acknowledgeEvents({ directoryId, name: "bulk", cursor: encodeCursor(base + 100_000n) });
    const ackEnd = Date.now();
    const ms = performance.now() - started;
    console.log(`one acknowledgement revoking 100,000 leavers: ${ms.toFixed(0)} ms`);
    expect(ack.revokedUsers).toBe(100_000n);
    expect(ack.consumer?.revokedUsers).toBe(100_000n);
    // Latencies (0..119 s) + the seconds since the write, against a 60 s objective: an event
    // misses when its age at the acknowledgement passes 60 s, so the share that missed grows
    // with how long the steps above took (on a loaded machine, several seconds). Ages come in
    // whole seconds (1/120 of the events each) and the clocks are the database's and this
    // process's: two seconds of slack either way.
    const missedShare = (elapsedMs: number) => Math.min(1, Math.max(0, (60 + elapsedMs / 1000) / 120));
    expect(Number(ack.consumer?.objectiveMissedUsers)).toBeGreaterThanOrEqual(Math.floor(100_000 * missedShare(ackStart - writtenAt! - 2_000)));
    expect(Number(ack.consumer?.objectiveMissedUsers)).toBeLessThanOrEqual(Math.ceil(100_000 * missedShare(ackEnd - writtenAt! + 2_000)));
    expect(ms).toBeLessThan(20_000);
    const text = await metrics();
    expect(metric(text, "roster_consumer_revocation_seconds_count", `directory="${directoryId}",consumer="bulk"`)).toBe(100_000);
    expect((await sdk.consumers.listUnrevokedUsers({ directoryId, name: "bulk", includeWithinObjective: true })).users).toEqual([]);
  }, 120_000);
});
