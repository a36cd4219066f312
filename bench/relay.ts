// Benchmark (not a test): the relay and the event path, against baselines measured in the
// same run.
//
//   node bench/relay.ts            (npm run bench:relay)
//
// 1. Drain: a 100,000-event backlog (10,000 users x 10 events) published by the relay into
//    the project's Kafka broker; events per second (target >= 5,000), once through each
//    Kafka client behind the Publisher port (kafkajs, @platformatic/kafka). Baselines: a bare
//    idempotent producer of each client sending the records the relay sends for such a
//    backlog (key, Event, CloudEvents headers), pre-encoded, in batches of the same size (the
//    broker's ceiling for that client); the ratio is relay/baseline (target >= 0.5). A fifth run publishes each event's state to a compacted state topic as
//    well (twice the records): its rate against the relay's without. Rounds interleave the
//    runs; medians are printed.
// 2. Latency at a steady 100 writes/s (SCIM PATCH active toggles, open loop): from the SCIM
//    response (the commit) to the Kafka consumer's eachMessage, and to a StreamEvents
//    client; p50/p99 (targets p99 < 250 ms and < 300 ms). The deprovisioning latency is the
//    same measure for the user.deactivated events only.
//
// Environment: ROSTER_TEST_DATABASE_URL, KAFKA_BROKERS (default the project's broker),
// BENCH_EVENTS (100000), BENCH_BATCH (2000), BENCH_ROUNDS (3; 0 skips the drain),
// BENCH_LATENCY_SECONDS (20; 0 skips the latency part).
import { randomUUID } from "node:crypto";
import { fromBinary } from "@bufbuild/protobuf";
import { createRosterClients } from "../sdk/src/index.ts";
import { Kafka, logLevel } from "kafkajs";
import { Admin, Producer, stringSerializer } from "@platformatic/kafka";
import { ProviderKind } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { EventSchema } from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { loadConfig } from "../services/config.ts";
import { createLogger } from "../services/platform/logger.ts";
import { startRoster } from "../services/app.ts";
import type { Orm } from "../services/core/persistence/database.ts";
import { sqlFor } from "../services/platform/sql.ts";
import { kafkaPublisher, type Publisher } from "../services/relay/publisher.ts";
import { platformaticPublisher } from "../services/relay/platformatic-publisher.ts";
import { relayDatabase } from "../services/relay/index.ts";
import { Relay } from "../services/relay/relay.ts";
import { eventToPb, storedEventMessage } from "../services/core/transport/event-codec.ts";
import { createMigratedDatabase, createTestDatabase } from "../services/testing/database.ts";
import { testKafkaBrokers, uniqueName } from "../services/testing/kafka.ts";
import { outboundMessages } from "../services/relay/outbound.ts";
import { seedUserUpdates, userUpdates } from "./support.ts";

const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PARTITIONS = 6;
/** The relay's drain against a bare producer of the same client. */
const TARGET_RATIO = 0.5;
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 20);
const brokers = testKafkaBrokers();
const logger = createLogger("silent");
const out = (line: string) => process.stdout.write(`${line}\n`);

function pct(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

type Client = "kafkajs" | "platformatic";
const CLIENTS: readonly Client[] = ["kafkajs", "platformatic"];

function publisherFor(client: Client, topic: string, stateTopic?: string): Publisher {
  const options = { brokers, clientId: `bench-relay-${client}`, topics: [topic], compactedTopics: stateTopic ? [stateTopic] : [], partitions: PARTITIONS, logger };
  return client === "kafkajs" ? kafkaPublisher(options) : platformaticPublisher(options);
}

/** A fresh backlog of EVENTS unpublished events (EVENTS / 10 users x 10 events each). */
async function seedBacklog(orm: Orm): Promise<void> {
  const sql = sqlFor(orm.em.fork());
  await sql("TRUNCATE outbox_events, outbox_pending, event_positions, relay_subject_cursors, relay_leases");
  await seedUserUpdates((text, params) => sql(text, params), randomUUID(), EVENTS / 10);
  await sql("VACUUM ANALYZE outbox_events, outbox_pending");
}

/** Seconds the relay takes to publish the whole backlog through `client` (and, `withState`, each event's state too). */
async function relayDrain(orm: Orm, client: Client, withState = false): Promise<number> {
  await seedBacklog(orm);
  const topic = uniqueName(`bench-drain-${client}`);
  const stateTopic = withState ? `${topic}-state` : undefined;
  const publisher = publisherFor(client, topic, stateTopic);
  // Connect (and make the topic) before the clock starts, as a running relay has.
  await publisher.publish([{ topic, key: "warm-up", value: new Uint8Array(1), headers: {} }]);
  const relay = new Relay({
    orm,
    publisher,
    logger,
    toEvent: eventToPb,
    userTopic: topic,
    groupTopic: topic,
    userStateTopic: stateTopic,
    groupStateTopic: stateTopic,
    batchSize: BATCH,
    pollIntervalMs: 10,
    leaseMs: 30_000,
    retentionMs: 86_400_000,
    cleanupIntervalMs: 3_600_000,
  });
  await relay.tryAcquire();
  const t0 = performance.now();
  let published = 0;
  // As the run loop does: each batch's mark overlaps the next batch's read and send.
  while (published < EVENTS) published += (await relay.step(true)).published;
  await relay.settle();
  const seconds = (performance.now() - t0) / 1000;
  await relay.stop();
  return seconds;
}

/**
 * The records the relay sends for a seeded backlog (key, stored Event with its position,
 * CloudEvents headers), built before the clock starts: what a bare producer sends for the
 * same work.
 */
function relayRecords(topic: string): Array<{ key: string; value: Buffer; headers: Record<string, string> }> {
  let position = 0n;
  return [...userUpdates(randomUUID(), EVENTS / 10)].map(({ event, payload }) => {
    position++;
    const row = { ...event, seq: position, sequence: BigInt(event.sequence), payload: null, position: null, event: storedEventMessage(event, payload) };
    const [message] = outboundMessages(row, position, eventToPb, { userTopic: topic, groupTopic: topic });
    return { key: message!.key, value: Buffer.from(message!.value!), headers: message!.headers };
  });
}

/** Seconds a bare idempotent producer of `client` takes to send relayRecords() in batches of BATCH. */
async function bareDrain(client: Client): Promise<number> {
  const topic = uniqueName(`bench-bare-${client}`);
  const records = relayRecords(topic);
  const batchAt = (i: number) => records.slice(i, i + BATCH);
  if (client === "kafkajs") {
    const kafka = new Kafka({ clientId: "bench-bare-kafkajs", brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
    await admin.disconnect();
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const t0 = performance.now();
    for (let i = 0; i < EVENTS; i += BATCH) await producer.send({ topic, acks: -1, messages: batchAt(i) });
    const seconds = (performance.now() - t0) / 1000;
    await producer.disconnect();
    return seconds;
  }
  const admin = new Admin({ clientId: "bench-bare-platformatic", bootstrapBrokers: brokers });
  await admin.createTopics({ topics: [topic], partitions: PARTITIONS, replicas: -1 });
  await admin.close();
  const producer = new Producer({ clientId: "bench-bare-platformatic", bootstrapBrokers: brokers, idempotent: true, serializers: { key: stringSerializer, headerKey: stringSerializer, headerValue: stringSerializer } });
  await producer.send({ messages: [{ topic, key: "warm-up", value: Buffer.alloc(0) }] });
  const t0 = performance.now();
  for (let i = 0; i < EVENTS; i += BATCH) {
    await producer.send({ messages: batchAt(i).map((m) => ({ topic, ...m })) });
  }
  const seconds = (performance.now() - t0) / 1000;
  await producer.close();
  return seconds;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function drain(): Promise<void> {
  // The relay's database as the relay role opens it (its own small pool).
  const db = await createMigratedDatabase(relayDatabase(logger));
  const { orm } = db;
  const rates = new Map<string, number[]>();
  const record = (name: string, seconds: number) => rates.set(name, [...(rates.get(name) ?? []), EVENTS / seconds]);
  // Rounds interleave the four runs, so a noisy neighbour hurts each of them alike.
  for (let round = 0; round < ROUNDS; round++) {
    for (const client of CLIENTS) {
      record(`relay ${client}`, await relayDrain(orm, client));
      record(`bare ${client}`, await bareDrain(client));
    }
    record("relay platformatic+state", await relayDrain(orm, "platformatic", true));
  }
  await db.close();
  const med = (name: string) => median(rates.get(name)!);
  out(`drain: ${EVENTS} events, relay batch ${BATCH}, ${PARTITIONS} partitions, medians of ${ROUNDS} rounds (events/s)`);
  for (const client of CLIENTS) {
    const relay = med(`relay ${client}`);
    const bare = med(`bare ${client}`);
    const all = (name: string) => rates.get(name)!.map((r) => Math.round(r)).join(", ");
    // Round by round too: the bare producer's rate varies more than the relay's on a shared machine.
    const perRound = median(rates.get(`relay ${client}`)!.map((r, i) => r / rates.get(`bare ${client}`)![i]!));
    out(
      `  ${client.padEnd(12)} relay ${Math.round(relay)} [${all(`relay ${client}`)}]  bare producer ${Math.round(bare)} [${all(`bare ${client}`)}]  relay/bare = ${(relay / bare).toFixed(2)} (target >= ${TARGET_RATIO}: ${relay / bare >= TARGET_RATIO ? "met" : "MISSED"}; median of the rounds' ratios ${perRound.toFixed(2)})  (target relay >= 5000: ${relay >= 5000 ? "met" : "MISSED"})`,
    );
  }
  const withState = med("relay platformatic+state");
  out(`  platformatic with state topic: relay ${Math.round(withState)} [${rates.get("relay platformatic+state")!.map((r) => Math.round(r)).join(", ")}]  with/without state = ${(withState / med("relay platformatic")).toFixed(2)}`);
  out(`  platformatic/kafkajs: relay ${(med("relay platformatic") / med("relay kafkajs")).toFixed(2)}, bare producer ${(med("bare platformatic") / med("bare kafkajs")).toFixed(2)}`);
}

async function latency(): Promise<void> {
  const db = await createTestDatabase();
  const topic = uniqueName("bench-latency");
  const config = loadConfig({
    DATABASE_URL: db.url,
    ROSTER_PORT: "0",
    ROSTER_ROLES: "core,scim,relay",
    ROSTER_USER_TOPIC: topic,
    ROSTER_GROUP_TOPIC: `${topic}-groups`,
    KAFKA_BROKERS: brokers.join(","),
    ROSTER_LOG_LEVEL: "silent",
  });
  const roster = await startRoster(config, logger);
  const key = (await roster.directories.bootstrapAdminKey())!.secret;
  const { directory: admin, events } = createRosterClients({ baseUrl: roster.server.url, apiKey: key });
  const { directory } = await admin.createDirectory({ name: "bench", provider: ProviderKind.OKTA });
  const directoryId = directory!.id;
  const { secret } = await admin.createScimToken({ directoryId, name: "bench" });
  const scim = (method: string, p: string, body: unknown) =>
    fetch(`${roster.server.url}/scim/v2${p}`, {
      method,
      headers: { authorization: `Bearer ${secret}`, "content-type": "application/scim+json" },
      body: JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, body: (await r.json().catch(() => ({}))) as { id?: string } }));
  const users: Array<{ id: string; active: boolean; version: number }> = [];
  for (let i = 0; i < 100; i++) {
    const r = await scim("POST", "/Users", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: `lat${i}@bench.example`, active: true });
    users.push({ id: r.body.id!, active: true, version: 1 });
  }

  const committed = new Map<string, { at: number; type: string }>(); // subject:sequence -> response time
  const kafkaLat: number[] = [];
  const streamLat: number[] = [];
  const deprovision: number[] = [];
  const kafka = new Kafka({ clientId: "bench-consumer", brokers, logLevel: logLevel.NOTHING });
  const admin2 = kafka.admin();
  await admin2.connect();
  await admin2.createTopics({ topics: [{ topic, numPartitions: 6 }], waitForLeaders: true }).catch(() => {});
  await admin2.disconnect();
  const consumer = kafka.consumer({ groupId: uniqueName("bench"), maxWaitTimeInMs: 10 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: false });
  const pending: Array<() => void> = [];
  await consumer.run({
    eachMessage: async ({ message }) => {
      const now = performance.now();
      const e = fromBinary(EventSchema, message.value!);
      const c = committed.get(`${e.subjectId}:${e.sequence}`);
      if (c) {
        kafkaLat.push(now - c.at);
        if (c.type === "user.deactivated") deprovision.push(now - c.at);
      }
      pending.splice(0).forEach((f) => f());
    },
  });
  const abort = new AbortController();
  const head = await events.listEvents({ directoryId, pageSize: 1000 });
  const streaming = (async () => {
    try {
      for await (const r of events.streamEvents({ directoryId, cursor: head.nextCursor }, { signal: abort.signal })) {
        const c = committed.get(`${r.event!.subjectId}:${r.event!.sequence}`);
        if (c) streamLat.push(performance.now() - c.at);
      }
    } catch {
      // aborted
    }
  })();
  await new Promise((r) => setTimeout(r, 2000)); // the consumer group settles

  // Open loop: one write every 10 ms, whatever the previous one is doing.
  const writes: Promise<void>[] = [];
  const start = performance.now();
  let n = 0;
  const total = LATENCY_SECONDS * 100;
  while (n < total) {
    // Every write that is due by now goes out, so timer lateness does not lower the rate.
    const due = Math.min(total, Math.floor((performance.now() - start) / 10) + 1);
    while (n < due) {
      const u = users[n % users.length]!;
      n++;
      const active = !u.active;
      u.active = active;
      const version = ++u.version;
      writes.push(
        scim("PATCH", `/Users/${u.id}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "replace", value: { active } }] }).then((r) => {
          if (r.status === 200 || r.status === 204) committed.set(`${u.id}:${version}`, { at: performance.now(), type: active ? "user.reactivated" : "user.deactivated" });
        }),
      );
    }
    await new Promise((r) => setTimeout(r, Math.max(0, start + n * 10 - performance.now())));
  }
  const elapsed = (performance.now() - start) / 1000;
  await Promise.all(writes);
  await new Promise((r) => setTimeout(r, 1500));
  abort.abort();
  await streaming;
  await consumer.disconnect();
  await roster.stop();
  await db.drop();
  const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms (n=${xs.length})`;
  out(`writes: ${n} in ${elapsed.toFixed(1)} s = ${(n / elapsed).toFixed(0)}/s (SCIM PATCH active toggles, open loop)`);
  out(`commit -> Kafka consumer: ${fmt(kafkaLat)} (target p99 < 250 ms: ${pct(kafkaLat, 99) < 250 ? "met" : "MISSED"})`);
  out(`commit -> StreamEvents:   ${fmt(streamLat)} (target p99 < 300 ms: ${pct(streamLat, 99) < 300 ? "met" : "MISSED"})`);
  out(`deprovisioning (SCIM deactivation response -> consumer): ${fmt(deprovision)}`);
}

if (ROUNDS > 0) await drain();
if (LATENCY_SECONDS > 0) await latency();
process.exit(0);
