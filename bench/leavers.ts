// Benchmark (not a test): deprovisioning latency while another directory deletes a
// 100,000-member group, against the same figure without the big group, measured in the same
// run.
//
//   node bench/leavers.ts            (npm run bench:leavers)
//
// Roster runs as its own process (core, SCIM and relay roles, real HTTP, the project's Kafka
// broker). One directory holds BENCH_LEAVERS users; an open loop toggles their `active` over
// SCIM PATCH at BENCH_RATE writes per second, and for every deactivation the time from the
// SCIM response to its arrival at a Kafka consumer and at a StreamEvents subscriber is kept.
//
// 1. Baseline: BENCH_LEAVERS deactivations, nothing else running.
// 2. With the big group: another directory's BENCH_MEMBERS-member group (built in SQL) is
//    deleted over SCIM; the loop runs from the DELETE request until the group's events are
//    all published (at least BENCH_LEAVERS deactivations).
// p50/p99 of both, and the ratio of the p99s. The relay does not wait for the DELETE's
// transaction: leavers committed while it runs go out between the group's batches (README,
// Relay).
//
// Environment: ROSTER_TEST_DATABASE_URL, KAFKA_BROKERS (default the project's broker),
// BENCH_MEMBERS (100000), BENCH_LEAVERS (100), BENCH_RATE (10).
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { fromBinary } from "@bufbuild/protobuf";
import { Kafka, logLevel } from "kafkajs";
import { ProviderKind } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { EventSchema } from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { createRosterClients } from "../sdk/src/index.ts";
import { loadConfig } from "../services/config.ts";
import { createLogger } from "../services/platform/logger.ts";
import { startRoster } from "../services/app.ts";
import { createTestDatabase, queryDatabase } from "../services/testing/database.ts";
import { testKafkaBrokers, uniqueName } from "../services/testing/kafka.ts";
import { seedPublishedGroup } from "../services/testing/large-group.ts";
import { PATCH_OP, scimRequest, USER_SCHEMA } from "../services/testing/scim.ts";

const MEMBERS = Number(process.env.BENCH_MEMBERS ?? 100_000);
const LEAVERS = Number(process.env.BENCH_LEAVERS ?? 100);
const RATE = Number(process.env.BENCH_RATE ?? 10);
const brokers = testKafkaBrokers();
const out = (line: string) => process.stdout.write(`${line}\n`);

// The service process: Roster with every role, saying where it listens and its admin key.
if (process.argv[2] === "--server") {
  const [databaseUrl, userTopic, groupTopic] = process.argv.slice(3);
  const config = loadConfig({
    DATABASE_URL: databaseUrl!,
    ROSTER_PORT: "0",
    ROSTER_ROLES: "core,scim,relay",
    ROSTER_USER_TOPIC: userTopic!,
    ROSTER_GROUP_TOPIC: groupTopic!,
    // State topics of its own: the 100,000-member delete must not fill the broker's defaults.
    ROSTER_USER_STATE_TOPIC: `${userTopic!}-state`,
    ROSTER_GROUP_STATE_TOPIC: `${groupTopic!}-state`,
    KAFKA_BROKERS: brokers.join(","),
    KAFKA_TOPIC_PARTITIONS: "3",
    ROSTER_LOG_LEVEL: "warn",
  });
  // Logs go to stderr, so that stdout carries the one line the benchmark reads.
  const roster = await startRoster(config, createLogger("warn", process.stderr));
  const key = (await roster.directories.bootstrapAdminKey())!.secret;
  process.stdout.write(`${JSON.stringify({ url: roster.server.url, key })}\n`);
  process.on("SIGTERM", () => void roster.stop().then(() => process.exit(0)));
  await new Promise(() => {});
}

function pct(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const db = await createTestDatabase();
const userTopic = uniqueName("bench-leavers-users");
const groupTopic = uniqueName("bench-leavers-groups");
const server = spawn(process.execPath, [fileURLToPath(import.meta.url), "--server", db.url, userTopic, groupTopic], { stdio: ["ignore", "pipe", "inherit"] });
const firstLine = await new Promise<string>((resolve, reject) => {
  createInterface({ input: server.stdout! }).once("line", resolve);
  server.once("exit", (code) => reject(new Error(`the Roster process exited (${code})`)));
});
const { url, key } = JSON.parse(firstLine) as { url: string; key: string };
const { directory: admin, events } = createRosterClients({ baseUrl: url, apiKey: key });

async function scimDirectory(name: string): Promise<{ id: string; secret: string }> {
  const { directory } = await admin.createDirectory({ name, provider: ProviderKind.OKTA });
  const { secret } = await admin.createScimToken({ directoryId: directory!.id, name: "idp" });
  return { id: directory!.id, secret };
}
const leavers = await scimDirectory("leavers");
const big = await scimDirectory("big group");
const users: Array<{ id: string; active: boolean; version: number; busy: boolean }> = [];
for (let i = 0; i < LEAVERS; i++) {
  const r = await scimRequest(url, leavers.secret, "POST", "/Users", { schemas: [USER_SCHEMA], userName: `leaver${i}@bench.example` });
  if (r.status !== 201) throw new Error(`creating a user answered ${r.status}`);
  users.push({ id: r.body.id, active: true, version: 1, busy: false });
}
const seedStart = performance.now();
const group = await seedPublishedGroup(db.url, big.id, MEMBERS);
out(`seeded a ${MEMBERS}-member group in SQL in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);

// Arrivals of each deactivation (subject:sequence), at the consumer and at the subscriber.
const kafkaAt = new Map<string, number>();
const streamAt = new Map<string, number>();
const kafka = new Kafka({ clientId: "bench-leavers", brokers, logLevel: logLevel.NOTHING });
const kafkaAdmin = kafka.admin();
await kafkaAdmin.connect();
await kafkaAdmin.createTopics({ topics: [{ topic: userTopic, numPartitions: 3 }], waitForLeaders: true }).catch(() => {});
await kafkaAdmin.disconnect();
const consumer = kafka.consumer({ groupId: uniqueName("bench-leavers"), maxWaitTimeInMs: 10 });
await consumer.connect();
await consumer.subscribe({ topic: userTopic, fromBeginning: false });
await consumer.run({
  eachMessage: async ({ message }) => {
    const e = fromBinary(EventSchema, message.value!);
    if (e.type === "user.deactivated") kafkaAt.set(`${e.subjectId}:${e.sequence}`, performance.now());
  },
});
const abort = new AbortController();
const head = await events.listEvents({ directoryId: leavers.id, pageSize: 1000 });
const streaming = (async () => {
  try {
    for await (const r of events.streamEvents({ directoryId: leavers.id, cursor: head.nextCursor }, { signal: abort.signal })) {
      if (r.event?.type === "user.deactivated") streamAt.set(`${r.event.subjectId}:${r.event.sequence}`, performance.now());
    }
  } catch {
    // aborted
  }
})();
await new Promise((r) => setTimeout(r, 3000)); // the consumer group settles

/**
 * PATCH active, sent again when the connection was reset before an answer (a kept-alive
 * connection the server closed meanwhile): setting the same value twice makes one event.
 */
async function setActive(id: string, active: boolean): Promise<{ status: number }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await scimRequest(url, leavers.secret, "PATCH", `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", value: { active } }] });
    } catch (error) {
      if (attempt === 3) throw error;
    }
  }
}

interface Phase {
  readonly kafka: number[];
  readonly stream: number[];
}

/** Toggles the users' `active` at RATE writes/s (open loop) until `until()` and at least `deactivations` deactivations. */
async function phase(deactivations: number, until: () => boolean): Promise<Phase> {
  const done = new Map<string, number>(); // subject:sequence of a deactivation -> SCIM response time
  const writes: Promise<void>[] = [];
  const start = performance.now();
  let n = 0;
  let sentDeactivations = 0;
  let next = 0;
  while (sentDeactivations < deactivations || !until()) {
    n++;
    // One write per user at a time (a slow answer must not reorder a user's toggles), so each
    // deactivation's sequence is known: the user's version after it.
    const u = [...users.slice(next), ...users.slice(0, next)].find((x) => !x.busy);
    if (!u) {
      await new Promise((r) => setTimeout(r, Math.max(0, start + (n * 1000) / RATE - performance.now())));
      continue;
    }
    next = (users.indexOf(u) + 1) % users.length;
    u.busy = true;
    u.active = !u.active;
    const version = ++u.version;
    const deactivating = !u.active;
    if (deactivating) sentDeactivations++;
    writes.push(
      setActive(u.id, u.active).then((r) => {
        if (r.status !== 200 && r.status !== 204) throw new Error(`PATCH answered ${r.status}`);
        if (deactivating) done.set(`${u.id}:${version}`, performance.now());
        u.busy = false;
      }),
    );
    await new Promise((r) => setTimeout(r, Math.max(0, start + (n * 1000) / RATE - performance.now())));
  }
  await Promise.all(writes);
  const deadline = Date.now() + 600_000;
  while ([...done.keys()].some((k) => !kafkaAt.has(k) || !streamAt.has(k))) {
    if (Date.now() > deadline) {
      const missing = [...done.keys()].filter((k) => !kafkaAt.has(k) || !streamAt.has(k));
      throw new Error(`${missing.length} deactivations did not all arrive within 10 minutes (e.g. ${missing[0]})`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const kafkaLat = [...done].map(([k, at]) => kafkaAt.get(k)! - at);
  const streamLat = [...done].map(([k, at]) => streamAt.get(k)! - at);
  return { kafka: kafkaLat, stream: streamLat };
}

const alone = await phase(LEAVERS, () => true);

// The big group is deleted; the loop runs until its events are all published.
let deleted = false;
let deleteSeconds = NaN;
const deleteStart = performance.now();
const deleting = scimRequest(url, big.secret, "DELETE", `/Groups/${group.groupId}`).then((r) => {
  if (r.status !== 204) throw new Error(`DELETE answered ${r.status}`);
  deleteSeconds = (performance.now() - deleteStart) / 1000;
});
let published = false;
let publishedSeconds = NaN;
const watching = (async () => {
  await deleting;
  deleted = true;
  for (;;) {
    const [row] = await queryDatabase<{ n: number }>(db.url, "SELECT count(*)::int AS n FROM outbox_pending WHERE directory_id = $1", [big.id]);
    if (row!.n === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  publishedSeconds = (performance.now() - deleteStart) / 1000;
  published = true;
})();
const withGroup = await phase(LEAVERS, () => deleted && published);
await watching;

abort.abort();
await streaming;
await consumer.disconnect();
server.kill("SIGTERM");
await new Promise((r) => server.once("exit", r));
await db.drop();

const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(0)} ms, p99 ${pct(xs, 99).toFixed(0)} ms (n=${xs.length})`;
out(`deprovisioning latency, SCIM deactivation response -> arrival (${RATE} writes/s, ${LEAVERS} users toggled)`);
out(`  alone:                  Kafka consumer ${fmt(alone.kafka)}; StreamEvents ${fmt(alone.stream)}`);
out(`  with the ${MEMBERS}-member group deleted (DELETE answered in ${deleteSeconds.toFixed(1)} s, its events published ${publishedSeconds.toFixed(1)} s after the request):`);
out(`                          Kafka consumer ${fmt(withGroup.kafka)}; StreamEvents ${fmt(withGroup.stream)}`);
out(`  p99 with/alone: Kafka ${(pct(withGroup.kafka, 99) / pct(alone.kafka, 99)).toFixed(1)}, StreamEvents ${(pct(withGroup.stream, 99) / pct(alone.stream, 99)).toFixed(1)}`);
process.exit(0);
