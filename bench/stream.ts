// Benchmark (not a test): how fast a StreamEvents subscriber keeps up, next to the relay's
// drain rate measured in the same run.
//
//   node bench/stream.ts            (npm run bench:stream)
//
// 1. Baseline: the relay drains a 100,000-event backlog (10,000 users x 10 events) into the
//    project's Kafka broker, nothing else running; events per second.
// 2. Catch-up: one StreamEvents call from position 0 over those 100,000 published events;
//    events per second (target: at least the drain rate of 1).
// 3. During a drain: a second backlog of the same size is drained by the relay while a
//    StreamEvents call follows from the head; the stream's rate over the drain (first
//    publication to last event received) next to the relay's rate, and how far the stream
//    ran behind publication (target: stream rate >= relay rate, lag a fraction of a second).
//
// Environment: ROSTER_TEST_DATABASE_URL, KAFKA_BROKERS (default the project's broker),
// BENCH_EVENTS (100000), BENCH_BATCH (1000, the relay's default batch).
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { ProviderKind } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { createRosterClients } from "../sdk/src/index.ts";
import { loadConfig } from "../services/config.ts";
import { createLogger } from "../services/platform/logger.ts";
import { startRoster } from "../services/app.ts";
import { openOrm } from "../services/core/persistence/database.ts";
import { sqlFor } from "../services/platform/sql.ts";
import { relayDatabase } from "../services/relay/index.ts";
import { platformaticPublisher } from "../services/relay/platformatic-publisher.ts";
import { Relay } from "../services/relay/relay.ts";
import { eventToPb } from "../services/core/transport/event-codec.ts";
import { createTestDatabase } from "../services/testing/database.ts";
import { testKafkaBrokers, uniqueName } from "../services/testing/kafka.ts";
import { seedUserUpdates } from "./support.ts";

const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 1000);
const brokers = testKafkaBrokers();
const logger = createLogger("silent");
const out = (line: string) => process.stdout.write(`${line}\n`);

if (process.argv[2] === "--client") {
  const [url, apiKey, directory, cursor, count] = process.argv.slice(3);
  await runClient(url!, apiKey!, directory!, cursor!, Number(count));
  process.exit(0);
}

const db = await createTestDatabase();
const config = loadConfig({ DATABASE_URL: db.url, ROSTER_PORT: "0", ROSTER_ROLES: "core", KAFKA_BROKERS: brokers.join(","), ROSTER_LOG_LEVEL: "silent" });
const roster = await startRoster(config, logger);
const key = (await roster.directories.bootstrapAdminKey())!.secret;
const clients = createRosterClients({ baseUrl: roster.server.url, apiKey: key });
const { directory } = await clients.directory.createDirectory({ name: "bench", provider: ProviderKind.OKTA });
const directoryId = directory!.id;
// The relay's database as the relay role opens it (its own small pool).
const orm = await openOrm(db.url, relayDatabase(logger));
const sql = sqlFor(orm.em.fork());
const topic = uniqueName("bench-stream");
// The publisher the relay role uses.
const publisher = platformaticPublisher({ brokers, clientId: "bench-stream-relay", topics: [topic], partitions: 6, logger });
const relay = new Relay({ orm, publisher, logger, toEvent: eventToPb, userTopic: topic, groupTopic: topic, batchSize: BATCH, pollIntervalMs: 10, leaseMs: 600_000, retentionMs: 86_400_000, cleanupIntervalMs: 3_600_000 });

/** Writes a backlog of unpublished events: EVENTS / 10 users x 10 updates, realistic payloads. */
async function seed(): Promise<void> {
  await seedUserUpdates((text, params) => sql(text, params), directoryId, EVENTS / 10);
  await sql("ANALYZE outbox_events");
}

/** Drains the backlog as the relay's run loop does; returns seconds. */
async function drain(onBatch?: (position: bigint, at: number) => void): Promise<number> {
  // step() does not renew the lease (the run loop does): take it afresh for each drain.
  if (!(await relay.tryAcquire())) throw new Error("the bench relay could not take the lease");
  const t0 = performance.now();
  let published = 0;
  while (published < EVENTS) {
    published += (await relay.step(true)).published;
    onBatch?.(relay.metrics().position, performance.timeOrigin + performance.now());
  }
  await relay.settle();
  onBatch?.(relay.metrics().position, performance.timeOrigin + performance.now());
  return (performance.now() - t0) / 1000;
}

/**
 * Follows StreamEvents from a cursor in a separate process (as a real consumer is) until
 * `count` events arrived. It reports every 500th event's position and arrival time
 * (epoch ms), and the last cursor.
 */
async function follow(cursor: string, count: number, arrived?: (position: bigint, at: number) => void): Promise<{ seconds: number; last: string }> {
  let started = 0;
  let finished = 0;
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "--client", roster.server.url, key, directoryId, cursor, String(count)], { stdio: ["ignore", "pipe", "inherit"] });
  let last = cursor;
  let buffered = "";
  child.stdout.on("data", (chunk: Buffer) => {
    buffered += chunk.toString("utf8");
    const lines = buffered.split("\n");
    buffered = lines.pop()!;
    for (const line of lines) {
      const [kind, a, b] = line.split(" ");
      if (kind === "start") started = Number(a);
      if (kind === "at") {
        finished = Number(b);
        arrived?.(BigInt(a!), finished);
      }
      if (kind === "last") last = a!;
    }
  });
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) throw new Error(`stream client exited with ${code}`);
  return { seconds: (finished - started) / 1000, last };
}

async function runClient(url: string, apiKey: string, directory: string, cursor: string, count: number): Promise<void> {
  const { events } = createRosterClients({ baseUrl: url, apiKey });
  const abort = new AbortController();
  let n = 0;
  let last = cursor;
  const lines: string[] = [];
  process.stdout.write(`start ${performance.timeOrigin + performance.now()}\n`);
  for await (const r of events.streamEvents({ directoryId: directory, cursor }, { signal: abort.signal, timeoutMs: 0 })) {
    last = r.cursor;
    n++;
    if (n % 500 === 0 || n === count) lines.push(`at ${r.event!.position} ${performance.timeOrigin + performance.now()}`);
    if (lines.length >= 20) process.stdout.write(`${lines.splice(0).join("\n")}\n`);
    if (n === count) break;
  }
  abort.abort();
  process.stdout.write(`${[...lines, `last ${last}`].join("\n")}\n`);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

// 1. Baseline: the relay alone.
await seed();
const drainSeconds = await drain();
const drainRate = EVENTS / drainSeconds;
out(`relay drain (alone): ${EVENTS} events in ${drainSeconds.toFixed(2)} s = ${Math.round(drainRate)} events/s (batch ${BATCH})`);

// 2. Catch-up from position 0 over the published backlog.
const catchUp = await follow("", EVENTS);
const catchUpRate = EVENTS / catchUp.seconds;
out(`StreamEvents catch-up from 0: ${EVENTS} events in ${catchUp.seconds.toFixed(2)} s = ${Math.round(catchUpRate)} events/s; catch-up/drain = ${(catchUpRate / drainRate).toFixed(2)} (target >= 1: ${catchUpRate >= drainRate ? "met" : "MISSED"})`);

// 3. Following while the relay drains a second backlog.
await seed();
const marks: Array<[bigint, number]> = []; // position marked published -> when (epoch ms)
const lags: number[] = [];
let lastArrival = 0;
const following = follow(catchUp.last, EVENTS, (position, at) => {
  lastArrival = at;
  // Lag: from the first moment the relay had marked this position to its arrival.
  const marked = marks.find(([p]) => p >= position);
  if (marked) lags.push(at - marked[1]);
});
await new Promise((resolve) => setTimeout(resolve, 1_500)); // the client is connected and idle
const drainStart = performance.timeOrigin + performance.now();
const duringSeconds = await drain((position, at) => {
  if (marks.at(-1)?.[0] !== position) marks.push([position, at]);
});
await following;
const streamSeconds = (lastArrival - drainStart) / 1000;
const duringDrainRate = EVENTS / duringSeconds;
const streamRate = EVENTS / streamSeconds;
out(`relay drain (with a subscriber): ${EVENTS} events in ${duringSeconds.toFixed(2)} s = ${Math.round(duringDrainRate)} events/s`);
out(
  `StreamEvents during the drain: the last of ${EVENTS} received ${streamSeconds.toFixed(2)} s after the drain began = ${Math.round(streamRate)} events/s; stream/relay = ${(streamRate / duringDrainRate).toFixed(2)} (target >= 1, allowing one batch of tail: ${streamSeconds <= duringSeconds + BATCH / duringDrainRate ? "met" : "MISSED"})`,
);
out(`  behind publication (relay saw the position marked -> received): median ${median(lags).toFixed(0)} ms, max ${Math.max(...lags).toFixed(0)} ms`);

await relay.stop();
await orm.close();
await roster.stop();
await db.drop();
process.exit(0);
