// Benchmark (not a test): revocation latency as Roster measures it, from a run with the real
// broker, for the two kinds of consumer, next to a baseline measured in the same run.
//
//   node bench/revocation.ts            (npm run bench:revocation)
//
// Roster runs core, SCIM and relay on the project's Kafka broker (fresh topics). Two
// registered consumers follow one directory: a StreamEvents consumer (the SDK's subscribe,
// acknowledging for it) and a Kafka consumer (the SDK's lifecycle consumer; Roster reads its
// group's committed offsets). Each round deactivates BENCH_USERS users; Roster's figure per
// consumer is the round's mean revocation latency (event time to first acknowledgement at or
// beyond it, from ConsumerService). Baseline: the mean time from the event to the StreamEvents
// handler receiving it, measured by the client in the same round: what Roster adds on top is
// the acknowledgement (at most one report per second) and, for Kafka, the broker poll.
//
// Environment: ROSTER_TEST_DATABASE_URL, KAFKA_BROKERS (default the project's broker),
// BENCH_USERS (200), BENCH_ROUNDS (5), BENCH_CHECK_MS (1000, ROSTER_CONSUMER_CHECK_MS).
import { Kafka, logLevel } from "kafkajs";
import { ProviderKind } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { createLifecycleConsumer, createRosterClients, isEvent, subscribe, timestampMs } from "../sdk/src/index.ts";
import { loadConfig } from "../services/config.ts";
import { createLogger } from "../services/platform/logger.ts";
import { startRoster } from "../services/app.ts";
import { createTestDatabase } from "../services/testing/database.ts";
import { testKafkaBrokers, uniqueName } from "../services/testing/kafka.ts";
import { fmt, median } from "./support.ts";

const USERS = Number(process.env.BENCH_USERS ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CHECK_MS = process.env.BENCH_CHECK_MS ?? "1000";
const brokers = testKafkaBrokers();
const out = (line: string) => process.stdout.write(`${line}\n`);

const db = await createTestDatabase();
const userTopic = uniqueName("bench-revocation-users");
const config = loadConfig({
  DATABASE_URL: db.url,
  ROSTER_PORT: "0",
  ROSTER_ROLES: "core,scim,relay",
  KAFKA_BROKERS: brokers.join(","),
  ROSTER_USER_TOPIC: userTopic,
  ROSTER_GROUP_TOPIC: uniqueName("bench-revocation-groups"),
  ROSTER_CONSUMER_CHECK_MS: CHECK_MS,
  ROSTER_LOG_LEVEL: "silent",
});
const roster = await startRoster(config, createLogger("silent"));
const key = (await roster.directories.bootstrapAdminKey())!.secret;
const clients = createRosterClients({ baseUrl: roster.server.url, apiKey: key });
const { directory } = await clients.directory.createDirectory({ name: "bench", provider: ProviderKind.OKTA });
const directoryId = directory!.id;
const groupId = uniqueName("bench-revocation-group");
await clients.consumers.registerConsumer({ directoryId, name: "stream-worker", owner: "bench", objectiveSeconds: 300 });
await clients.consumers.registerConsumer({ directoryId, name: "kafka-worker", owner: "bench", objectiveSeconds: 300, kafkaGroupId: groupId });

// The StreamEvents consumer: notes when each leaver reached its handler.
const delivered: number[] = [];
const controller = new AbortController();
const streaming = (async () => {
  const stream = subscribe(clients.events, { directoryId, signal: controller.signal, acknowledge: { client: clients.consumers, consumer: "stream-worker" } });
  for await (const { event } of stream) {
    if (isEvent(event, "userDeactivated") && event.time) delivered.push(Date.now() - timestampMs(event.time));
  }
})();
// The Kafka consumer: the SDK's, committing after each handled message (at least once a second).
const kafka = new Kafka({ clientId: "bench-revocation", brokers, logLevel: logLevel.NOTHING });
const lifecycle = createLifecycleConsumer(kafka, { groupId, topics: [userTopic], onEvent: () => {}, consumerConfig: { maxWaitTimeInMs: 100 } });
const userIds: string[] = [];
// A first user makes the relay create the topics the Kafka consumer waits for.
userIds.push((await clients.directory.createUser({ directoryId, resource: { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: "first@example.com" } })).user!.id);
await lifecycle.start();

async function figures(name: string) {
  const { consumer } = await clients.consumers.getConsumer({ directoryId, name });
  return { n: Number(consumer!.revokedUsers), sum: consumer!.revocationSecondsSum, max: consumer!.revocationSecondsMax };
}

const rows: Array<{ baseline: number; stream: number; kafka: number }> = [];
out(`revocation latency: ${ROUNDS} rounds of ${USERS} deactivations, consumer check every ${CHECK_MS} ms, broker ${brokers.join(",")}`);
for (let round = 1; round <= ROUNDS; round++) {
  const ids: string[] = [];
  for (let i = 0; i < USERS; i++) {
    const { user } = await clients.directory.createUser({ directoryId, resource: { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: `r${round}-u${i}@example.com` } });
    ids.push(user!.id);
  }
  const before = { stream: await figures("stream-worker"), kafka: await figures("kafka-worker") };
  const seen = delivered.length;
  for (const id of ids) await clients.directory.deactivateUser({ directoryId, id });
  const deadline = Date.now() + 120_000;
  let after = before;
  while (Date.now() < deadline) {
    after = { stream: await figures("stream-worker"), kafka: await figures("kafka-worker") };
    if (after.stream.n - before.stream.n >= USERS && after.kafka.n - before.kafka.n >= USERS) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const mean = (k: "stream" | "kafka") => (after[k].sum - before[k].sum) / Math.max(1, after[k].n - before[k].n);
  const baseline = delivered.slice(seen).reduce((a, b) => a + b, 0) / Math.max(1, delivered.length - seen) / 1000;
  rows.push({ baseline, stream: mean("stream"), kafka: mean("kafka") });
  out(`  round ${round}: delivery to the handler ${fmt(baseline, 3)} s | StreamEvents consumer ${fmt(mean("stream"), 3)} s | Kafka consumer ${fmt(mean("kafka"), 3)} s (means)`);
}
const m = { baseline: median(rows.map((r) => r.baseline)), stream: median(rows.map((r) => r.stream)), kafka: median(rows.map((r) => r.kafka)) };
const last = { stream: await figures("stream-worker"), kafka: await figures("kafka-worker") };
out(`median of round means: baseline (event to handler) ${fmt(m.baseline, 3)} s`);
out(`  StreamEvents consumer ${fmt(m.stream, 3)} s (x${fmt(m.stream / m.baseline, 1)} the baseline), max ${fmt(last.stream.max, 3)} s over ${last.stream.n} leavers`);
out(`  Kafka consumer        ${fmt(m.kafka, 3)} s (x${fmt(m.kafka / m.baseline, 1)} the baseline), max ${fmt(last.kafka.max, 3)} s over ${last.kafka.n} leavers`);

controller.abort();
await streaming;
await lifecycle.stop();
await roster.stop();
await db.drop();
