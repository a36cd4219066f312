// The pitfalls of the design notes, each made to happen deterministically against real
// Postgres (transactions held open on purpose) and a real Kafka broker: a late-committing
// transaction, xid inversion on one user, a batch boundary inside a subject, two relays
// racing, and a paused relay waking after losing its lease.
import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { createLogger } from "../platform/logger.ts";
import type { Orm } from "../core/persistence/database.ts";
import { sqlFor, type Sql } from "../platform/sql.ts";
import { createMigratedDatabase, createTestDatabase, type MigratedDatabase } from "../testing/database.ts";
import { eventually } from "../testing/events.ts";
import { testKafkaBrokers, uniqueName } from "../testing/kafka.ts";
import { Kafka, logLevel } from "kafkajs";
import type { OutboundMessage, Publisher } from "./publisher.ts";
import { platformaticPublisher } from "./platformatic-publisher.ts";
import { lagFigures } from "../event-log/index.ts";
import { outboxLag, unpark } from "./admin.ts";
import { Relay, FencedError, type RelayOptions, type StepResult } from "./relay.ts";
import { eventToPb } from "../core/transport/event-codec.ts";
import { fromBinary } from "@bufbuild/protobuf";
import { EventSchema } from "@roster/sdk/gen/roster/events/v1/events_pb.js";

const logger = createLogger("silent");
const topic = uniqueName("roster-pitfalls");
let db: MigratedDatabase;
/** Writers' sessions (rows appended in transactions held open), and assertions. */
let pool: pg.Pool;
/** The relays' database, as the service opens it. */
let orm: Orm;
let sql: Sql;
let kafka: Publisher;
const relays: Relay[] = [];
const dir = randomUUID();

interface Sent {
  readonly by: string;
  readonly subject: string;
  readonly sequence: number;
  readonly position: number;
  readonly id: string;
}

beforeAll(async () => {
  db = await createMigratedDatabase({ poolMax: 10 });
  orm = db.orm;
  sql = sqlFor(orm.em.fork());
  pool = new pg.Pool({ connectionString: db.url, max: 10 });
  kafka = platformaticPublisher({ brokers: testKafkaBrokers(), clientId: "roster-pitfalls", topics: [topic], partitions: 3, logger });
});

afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.stop()));
  await pool.query("TRUNCATE outbox_events, outbox_pending, event_positions, relay_leases, relay_subject_cursors, relay_parked_subjects");
});

afterAll(async () => {
  await kafka?.close();
  await pool?.end();
  await db?.close();
});

/** A relay on the real broker that records what it got acknowledged. */
function relay(sent: Sent[], options: Partial<RelayOptions> = {}): Relay {
  const holder = options.holder ?? uniqueName("relay");
  const recording: Publisher = {
    async publish(messages: readonly OutboundMessage[]) {
      await kafka.publish(messages);
      for (const m of messages) {
        if (m.value === null) throw new Error("a tombstone on an event topic");
        const e = fromBinary(EventSchema, m.value);
        sent.push({ by: holder, subject: m.key, sequence: Number(e.sequence), position: Number(e.position), id: e.id });
      }
    },
    async close() {},
  };
  const r = new Relay({
    orm,
    publisher: recording,
    logger,
    toEvent: eventToPb,
    userTopic: topic,
    groupTopic: topic,
    batchSize: 100,
    pollIntervalMs: 10,
    leaseMs: 2_000,
    retentionMs: 60_000,
    cleanupIntervalMs: 60_000,
    ...options,
    holder,
  });
  relays.push(r);
  return r;
}

/**
 * step() until `count` events are published. A single step may publish fewer (a step reads
 * what was committed when it began; the relay publishes the rest on its next round).
 */
async function publish(r: Relay, count: number): Promise<StepResult> {
  let published = 0;
  let last: StepResult = { published: 0, held: 0, more: false, fenced: false };
  await eventually(async () => {
    last = await r.step();
    published += last.published;
    return published >= count || last.fenced;
  }, 10_000, `${count} events published`);
  return { ...last, published };
}

/**
 * Inserts one outbox row in the given session (inside whatever transaction it has open);
 * `padding` characters in the user's resource make it as large as needed.
 */
async function append(client: pg.ClientBase | pg.Pool, subject: string, sequence: number, padding = 0, directory = dir): Promise<void> {
  const resource = padding > 0 ? { note: "x".repeat(padding) } : {};
  await client.query(
    `INSERT INTO outbox_events (id, directory_id, subject_type, subject_id, sequence, type, payload, occurred_at)
     VALUES ($1, $2, 'user', $3, $4, 'user.updated', $5, now())`,
    [randomUUID(), directory, subject, sequence, JSON.stringify({ user: { id: subject, directoryId: directory, userName: `${subject}@x`, state: "active", version: sequence, resource, createdAt: new Date().toISOString(), updatedAt: new Date().toISOString(), deletedAt: null } })],
  );
}

async function session(): Promise<pg.PoolClient> {
  const c = await pool.connect();
  return c;
}

async function positions(): Promise<Array<{ subject: string; sequence: number; position: number | null }>> {
  const { rows } = await pool.query<{ subject_id: string; sequence: string; position: string | null }>(
    "SELECT o.subject_id, o.sequence, p.position FROM outbox_events o LEFT JOIN event_positions p USING (seq) ORDER BY o.seq",
  );
  return rows.map((r) => ({ subject: r.subject_id, sequence: Number(r.sequence), position: r.position === null ? null : Number(r.position) }));
}

/** Every row published once, positions 1..n without gaps, each subject's in sequence order. */
async function expectConsistent(): Promise<void> {
  const rows = await positions();
  expect(rows.every((r) => r.position !== null)).toBe(true);
  expect(rows.map((r) => r.position!).sort((a, b) => a - b)).toEqual(rows.map((_, i) => i + 1));
  const bySubject = new Map<string, Array<{ sequence: number; position: number }>>();
  for (const r of rows) bySubject.set(r.subject, [...(bySubject.get(r.subject) ?? []), { sequence: r.sequence, position: r.position! }]);
  for (const list of bySubject.values()) {
    list.sort((a, b) => a.position - b.position);
    expect(list.map((x) => x.sequence)).toEqual(list.map((_, i) => i + 1));
  }
}

/** What consumers see per subject after dropping duplicates by id: sequences 1..n in order. */
function expectInOrder(sent: readonly Sent[]): void {
  const seen = new Set<string>();
  const bySubject = new Map<string, number[]>();
  for (const s of sent) {
    if (seen.has(s.id)) continue;
    seen.add(s.id);
    bySubject.set(s.subject, [...(bySubject.get(s.subject) ?? []), s.sequence]);
  }
  for (const [, seqs] of bySubject) expect(seqs).toEqual(seqs.map((_, i) => i + 1));
}

describe("relay pitfalls", () => {
  it("does not skip a transaction that took its id early and commits late, nor wait for it", async () => {
    const sent: Sent[] = [];
    const r = relay(sent);
    expect(await r.tryAcquire()).toBe(true);
    const late = await session();
    const [early, later] = [randomUUID(), randomUUID()];
    try {
      await late.query("BEGIN");
      await append(late, early, 1); // takes the lower seq and xid, commits last
      await append(pool, later, 1); // commits first
      // The later row goes at once: the open transaction holds back only its own rows (a
      // relay reading `seq > last` would now skip the early one forever).
      expect(await publish(r, 1)).toMatchObject({ published: 1 });
      expect(sent.map((s) => s.subject)).toEqual([later]);
      await late.query("COMMIT");
    } finally {
      late.release();
    }
    expect(await publish(r, 1)).toMatchObject({ published: 1 });
    expect(sent.map((s) => s.subject)).toEqual([later, early]);
    await expectConsistent();
  });

  it("is not held back by a long transaction, in this database or another of the same server", async () => {
    const sent: Sent[] = [];
    const r = relay(sent);
    expect(await r.tryAcquire()).toBe(true);
    const elsewhere = await createTestDatabase();
    const other = new pg.Client({ connectionString: elsewhere.url });
    await other.connect();
    try {
      await other.query("BEGIN");
      await other.query("SELECT pg_current_xact_id()"); // an older xid, open, in another database
      await append(pool, randomUUID(), 1);
      expect(await publish(r, 1)).toMatchObject({ published: 1 });
      // An older transaction open in this database, with an outbox row of its own (a large
      // group being deleted): the leaver committed meanwhile goes at once.
      const here = await session();
      const [mine, leaver] = [randomUUID(), randomUUID()];
      try {
        await here.query("BEGIN");
        await here.query("SELECT pg_current_xact_id()");
        await append(here, mine, 1);
        await append(pool, leaver, 1);
        expect(await publish(r, 1)).toMatchObject({ published: 1 });
        expect(sent.at(-1)?.subject).toBe(leaver);
        await here.query("COMMIT");
      } finally {
        here.release();
      }
      expect(await publish(r, 1)).toMatchObject({ published: 1 });
      expect(sent.at(-1)?.subject).toBe(mine);
    } finally {
      await other.query("ROLLBACK");
      await other.end();
      await elsewhere.drop();
    }
    await expectConsistent();
  });

  it("holds a user back while a lower sequence commits later under a higher xid", async () => {
    const sent: Sent[] = [];
    const r = relay(sent);
    expect(await r.tryAcquire()).toBe(true);
    const u = randomUUID();
    const t1 = await session();
    const t2 = await session();
    try {
      await t1.query("BEGIN");
      await t1.query("SELECT pg_current_xact_id()"); // t1 takes the lower xid first
      await t2.query("BEGIN");
      await append(t2, u, 1); // sequence 1 under the higher xid
      await t1.query("SELECT pg_current_xact_id()");
      await append(t1, u, 2); // sequence 2 under the lower xid
      await t1.query("COMMIT"); // sequence 2 is visible before 1
      const held = await r.step();
      expect(held).toMatchObject({ published: 0 });
      await t2.query("COMMIT");
    } finally {
      t1.release();
      t2.release();
    }
    expect(await publish(r, 2)).toMatchObject({ published: 2, held: 0 });
    expect(sent.map((s) => s.sequence)).toEqual([1, 2]);
    await expectConsistent();
  });

  it("keeps a subject in order when a batch boundary falls inside it, whatever the insert order", async () => {
    const sent: Sent[] = [];
    const r = relay(sent, { batchSize: 2 });
    expect(await r.tryAcquire()).toBe(true);
    const [u, v] = [randomUUID(), randomUUID()];
    const c = await session();
    try {
      await c.query("BEGIN");
      // Inserted against sequence order and interleaved with another subject.
      for (const [s, n] of [[u, 3], [v, 1], [u, 5], [u, 1], [v, 2], [u, 4], [u, 2]] as const) await append(c, s, n);
      await c.query("COMMIT");
    } finally {
      c.release();
    }
    const sizes: number[] = [];
    while (sizes.reduce((a, b) => a + b, 0) < 7) {
      const { published } = await publish(r, 1);
      sizes.push(published);
    }
    expect(Math.max(...sizes)).toBeLessThanOrEqual(2);
    expect(sent.filter((s) => s.subject === u).map((s) => s.sequence)).toEqual([1, 2, 3, 4, 5]);
    expect(sent.filter((s) => s.subject === v).map((s) => s.sequence)).toEqual([1, 2]);
    expect(sent.map((s) => s.position)).toEqual(sent.map((_, i) => i + 1));
    await expectConsistent();
  });

  it("lets only one of two racing relays lead, and a standby take over when the leader dies", async () => {
    const sent: Sent[] = [];
    const a = relay(sent, { leaseMs: 600 });
    const b = relay(sent, { leaseMs: 600 });
    const won = await Promise.all([a.tryAcquire(), b.tryAcquire()]);
    expect(won.filter(Boolean)).toHaveLength(1);
    const [leader, standby] = won[0] ? [a, b] : [b, a];

    // Writers append while both relays run; the leader is "killed" (never renews again)
    // half way, and the standby must carry on from its cursor.
    const subjects = Array.from({ length: 20 }, () => randomUUID());
    standby.start();
    let total = 0;
    for (let round = 1; round <= 10; round++) {
      const c = await session();
      try {
        await c.query("BEGIN");
        for (const s of subjects) await append(c, s, round);
        await c.query("COMMIT");
      } finally {
        c.release();
      }
      total += subjects.length;
      if (round <= 5) await leader.step(); // the leader publishes, then dies after round 5
    }
    const deadAt = performance.now();
    await eventually(() => standby.isLeader, 10_000, "the standby taking over");
    expect(performance.now() - deadAt).toBeLessThan(3_000);
    await eventually(async () => (await positions()).every((p) => p.position !== null) || undefined, 20_000, "all rows published");
    expect((await positions()).length).toBe(total);
    // The dead leader cannot move the cursor any more.
    expect(await leader.renew()).toBe(false);
    expect(await leader.step()).toMatchObject({ fenced: true });
    expectInOrder(sent);
    await expectConsistent();
  });

  it("fences a paused relay that wakes after losing its lease", async () => {
    const sent: Sent[] = [];
    let resume!: () => void;
    let paused!: () => void;
    const isPaused = new Promise<void>((r) => (paused = r));
    const a = relay(sent, {
      leaseMs: 300,
      beforePublish: () => {
        paused();
        return new Promise<void>((r) => (resume = r)); // a GC pause, SIGSTOP, a slow VM...
      },
    });
    const b = relay(sent, { leaseMs: 300 });
    const u = randomUUID();
    await append(pool, u, 1);
    expect(await a.tryAcquire()).toBe(true);
    const aStep = a.step();
    await isPaused; // a has chosen its batch and stopped before sending
    await eventually(() => b.tryAcquire(), 10_000, "b taking the expired lease");
    expect(await publish(b, 1)).toMatchObject({ published: 1 });
    await append(pool, u, 2);
    expect(await publish(b, 1)).toMatchObject({ published: 1 });
    resume();
    // a wakes: its lease deadline has passed, so it neither publishes nor marks.
    expect(await aStep).toMatchObject({ published: 0, fenced: true });
    expect(sent.filter((s) => s.by === a.holder)).toEqual([]);
    expect(sent.map((s) => [s.sequence, s.position])).toEqual([[1, 1], [2, 2]]);

    // Even a relay that did send (its pause fell between the check and the send) cannot
    // mark: the lease compare-and-set refuses its epoch and its stale cursor.
    const stale = { seq: 1n, id: randomUUID(), directoryId: dir, subjectType: "user" as const, subjectId: u, sequence: 1n, type: "user.updated", payload: {}, occurredAt: new Date(), position: null, event: null };
    await expect(a.mark([stale], 0n, 1)).rejects.toBeInstanceOf(FencedError);
    const { rows } = await pool.query<{ position: string; epoch: string; holder: string }>("SELECT position, epoch, holder FROM relay_leases");
    expect(rows[0]).toMatchObject({ position: "2", holder: b.holder });
    await expectConsistent();
  });

  it("keeps order and positions when marks are pipelined behind sends (the run loop)", async () => {
    const sent: Sent[] = [];
    const r = relay(sent, { batchSize: 7 });
    const subjects = Array.from({ length: 20 }, () => randomUUID());
    const c = await session();
    try {
      await c.query("BEGIN");
      // Each subject's events inserted in reverse sequence order, subjects interleaved.
      for (let n = 10; n >= 1; n--) for (const s of subjects) await append(c, s, n);
      await c.query("COMMIT");
    } finally {
      c.release();
    }
    r.start();
    await eventually(async () => (await positions()).every((p) => p.position !== null) || undefined, 20_000, "the backlog drained");
    expect(sent).toHaveLength(200);
    expect(sent.map((s) => s.position)).toEqual(sent.map((_, i) => i + 1));
    expectInOrder(sent);
    await expectConsistent();
  });

  it("shares a batch among directories: one directory's backlog does not hold another's leaver behind it", async () => {
    const sent: Sent[] = [];
    const r = relay(sent, { batchSize: 10 });
    expect(await r.tryAcquire()).toBe(true);
    const busy = Array.from({ length: 40 }, () => randomUUID());
    for (const s of busy) await append(pool, s, 1); // a burst in this directory
    const leaver = randomUUID();
    await append(pool, leaver, 1, 0, randomUUID()); // then one event in another directory
    const first = await publish(r, 1);
    expect(first.published).toBeLessThanOrEqual(10);
    expect(sent.map((s) => s.subject)).toContain(leaver);
    // The batch was short (the other directory had one event), but the busy directory filled
    // its share: the run loop goes on without sleeping.
    expect(first.published).toBeLessThan(10);
    expect(first.more).toBe(true);
    await publish(r, 41 - first.published);
    expect(sent.map((s) => s.position)).toEqual(sent.map((_, i) => i + 1));
    expect((await r.step()).more).toBe(false);
    await expectConsistent();
  });

  it("cleans up published rows past the replay window and keeps the subject cursor", async () => {
    const sent: Sent[] = [];
    const r = relay(sent, { retentionMs: 0 });
    expect(await r.tryAcquire()).toBe(true);
    const u = randomUUID();
    await append(pool, u, 1);
    await append(pool, u, 2);
    expect(await publish(r, 2)).toMatchObject({ published: 2 });
    await append(pool, u, 3); // unpublished: never cleaned up
    expect(await r.cleanup()).toBe(2);
    expect((await positions()).map((p) => p.sequence)).toEqual([3]);
    // The cursor survives the cleanup: sequence 3 follows 2, not a hold-back.
    expect(await publish(r, 1)).toMatchObject({ published: 1, held: 0 });
    expect(sent.map((s) => s.position)).toEqual([1, 2, 3]);
  });
});

describe("events the broker refuses for good", () => {
  it("parks only the refused event's subject, keeps every other subject flowing, and re-sends it once unparked", async () => {
    // A topic that refuses records over 4 KiB, as a broker or topic with a small
    // max.message.bytes does: MESSAGE_TOO_LARGE, for good.
    const small = uniqueName("roster-pitfalls-small");
    const admin = new Kafka({ clientId: "roster-pitfalls-admin", brokers: testKafkaBrokers(), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic: small, numPartitions: 1, configEntries: [{ name: "max.message.bytes", value: "4096" }] }], waitForLeaders: true });
      const sent: Sent[] = [];
      const logs: string[] = [];
      const r = relay(sent, { userTopic: small, batchSize: 50, logger: createLogger("info", { write: (line: string) => void logs.push(line) }) });
      const [refused, tooBig, other1, other2] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      await append(pool, refused, 1);
      await append(pool, refused, 2, 10_000); // the broker refuses this one
      await append(pool, other1, 1);
      await append(pool, refused, 3);
      await append(pool, tooBig, 1, 600 * 1024); // over the relay's own bound: never sent
      await append(pool, other2, 1);
      await append(pool, tooBig, 2);
      await append(pool, other1, 2);
      r.start();
      // Later writes keep flowing past the parked subjects.
      await eventually(async () => (await positions()).filter((p) => p.position !== null).length === 4 || undefined, 20_000, "the other subjects published");
      await append(pool, other2, 2);
      await eventually(async () => (await positions()).filter((p) => p.position !== null).length === 5 || undefined, 20_000, "a later write published");

      const rows = await positions();
      const published = rows.filter((p) => p.position !== null).sort((a, b) => a.position! - b.position!);
      expect(published.map((p) => p.position)).toEqual([1, 2, 3, 4, 5]);
      expect(published.map((p) => `${p.subject}:${p.sequence}`).sort()).toEqual(
        [`${refused}:1`, `${other1}:1`, `${other1}:2`, `${other2}:1`, `${other2}:2`].sort(),
      );
      expectInOrder(sent);
      expect(sent.some((s) => s.subject === tooBig)).toBe(false);

      // Reported: the metric, `roster outbox lag`, and one log line per parked subject.
      expect(r.metrics().parkedTotal).toBe(2);
      expect(await lagFigures(sql)).toEqual({ unpublished: 0, oldestUnpublishedAgeSeconds: 0, parked: 4 });
      const lag = await outboxLag(sql);
      expect(lag).toMatchObject({ unpublished: 0, parkedEvents: 4, stuckSubjects: [] });
      expect(lag.parkedSubjects.map((p) => [p.subjectId, p.sequence, p.events]).sort()).toEqual([[refused, 2, 2], [tooBig, 1, 2]].sort());
      expect(lag.parkedSubjects.find((p) => p.subjectId === refused)!.reason).toMatch(/MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE/);
      expect(lag.parkedSubjects.find((p) => p.subjectId === tooBig)!.reason).toMatch(/over the 524288-byte bound/);
      const parkedLines = logs.filter((l) => l.includes("relay parked a subject"));
      expect(parkedLines).toHaveLength(2);
      expect(parkedLines.join("")).not.toContain("xxxxxxxx");

      // The operator raises the topic's limit and unparks: the refused subject's events go, in
      // order, after everything already published; the one over the relay's bound parks again.
      await admin.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: small, configEntries: [{ name: "max.message.bytes", value: "1048588" }] }] });
      expect((await unpark(sql, "all")).unparked.sort()).toEqual([refused, tooBig].sort());
      await eventually(async () => (await positions()).filter((p) => p.subject === refused).every((p) => p.position !== null) || undefined, 20_000, "the unparked subject published");
      await eventually(async () => (await lagFigures(sql)).parked === 2 || undefined, 20_000, "the oversized subject parked again");
      const after = (await positions()).filter((p) => p.subject === refused).sort((a, b) => a.sequence - b.sequence);
      expect(after.map((p) => p.position)).toEqual([after[0]!.position, 6, 7]);
      expect(sent.filter((s) => s.subject === refused).map((s) => s.sequence)).toEqual([1, 2, 3]);
      expect(r.metrics().parkedTotal).toBe(3);
    } finally {
      await admin.deleteTopics({ topics: [small] }).catch(() => {});
      await admin.disconnect();
    }
  });
});
