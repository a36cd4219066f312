// The Kafka helpers: the decoder on crafted messages, and the consumer wrapper against the
// real broker with messages produced here the way the relay writes them.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toBinary } from "@bufbuild/protobuf";
import { Kafka, logLevel, type Producer } from "kafkajs";
import { testKafkaBrokers, uniqueName } from "../../services/testing/kafka.ts";
import { EventSchema, type Event } from "./gen/roster/events/v1/events_pb.js";
import { createLifecycleConsumer, decodeLifecycleMessage, LifecycleMessageError, type LifecycleConsumer } from "./kafka.ts";
import { SequenceGapError } from "./ordering.ts";
import { userEvent } from "./testing/fake-event-service.ts";

const DIR = "0197a3b0-0000-7000-8000-00000000d1d1";

/** A message as the relay writes it: key = subject, value = Event, CloudEvents headers. */
function message(event: Event, overrides: Record<string, string | undefined> = {}) {
  const headers: Record<string, string> = {
    ce_specversion: "1.0",
    ce_id: event.id,
    ce_type: `io.roster.${event.type}`,
    ce_source: `/directories/${event.directoryId}`,
    ce_subject: `users/${event.subjectId}`,
    ce_time: new Date(Number(event.time!.seconds) * 1000 + Math.floor(event.time!.nanos / 1e6)).toISOString(),
    "content-type": "application/protobuf",
  };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete headers[k];
    else headers[k] = v;
  }
  return { key: event.subjectId, value: Buffer.from(toBinary(EventSchema, event)), headers };
}

describe("decodeLifecycleMessage", () => {
  it("decodes the value and the CloudEvents headers", () => {
    const event = userEvent(DIR, "u1", 3, "userDeactivated");
    const m = message(event);
    const decoded = decodeLifecycleMessage({ key: Buffer.from(m.key), value: m.value, headers: m.headers });
    expect(decoded.event.id).toBe(event.id);
    expect(decoded.event.sequence).toBe(3n);
    expect(decoded.event.payload.case).toBe("userDeactivated");
    expect(decoded.headers).toMatchObject({ id: event.id, type: "io.roster.user.deactivated", specversion: "1.0", contentType: "application/protobuf" });
    // kafkajs hands headers over as Buffers.
    const buffers = Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k, Buffer.from(v)]));
    expect(decodeLifecycleMessage({ key: null, value: m.value, headers: buffers }).event.id).toBe(event.id);
  });

  it("refuses headers or a key that disagree with the value", () => {
    const event = userEvent(DIR, "u1", 1, "userCreated");
    const bad: Array<[string, ReturnType<typeof message>]> = [
      ["ce_id", message(event, { ce_id: "other" })],
      ["ce_type", message(event, { ce_type: "io.roster.user.deleted" })],
      ["ce_source", message(event, { ce_source: "/directories/elsewhere" })],
      ["ce_subject", message(event, { ce_subject: "users/u2" })],
      ["ce_time", message(event, { ce_time: "2001-01-01T00:00:00.000Z" })],
      ["missing CloudEvents header ce_id", message(event, { ce_id: undefined })],
      ["specversion", message(event, { ce_specversion: "0.3" })],
      ["content-type", message(event, { "content-type": "application/json" })],
      ["message key", { ...message(event), key: "u2" }],
      ["not a roster.events.v1.Event", { ...message(event), value: Buffer.from([0xff, 0xff, 0xff]) }],
      ["type and payload", message(userEvent(DIR, "u1", 1, "userCreated", "e-x"), {})],
    ];
    // The last one: a value whose type names another payload.
    const lying = userEvent(DIR, "u1", 1, "userCreated", "e-lie");
    lying.type = "user.deleted";
    bad[bad.length - 1] = ["type and payload", message(lying)];
    for (const [reason, m] of bad) {
      expect(() => decodeLifecycleMessage({ key: Buffer.from(m.key), value: m.value, headers: m.headers }), reason).toThrow(LifecycleMessageError);
      expect(() => decodeLifecycleMessage({ key: Buffer.from(m.key), value: m.value, headers: m.headers }), reason).toThrow(reason);
    }
  });
});

describe("createLifecycleConsumer against the broker", () => {
  const kafka = new Kafka({ clientId: "roster-sdk-test", brokers: testKafkaBrokers(), logLevel: logLevel.NOTHING });
  let producer: Producer;
  const consumers: LifecycleConsumer[] = [];

  beforeAll(async () => {
    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
  });

  afterAll(async () => {
    await Promise.all(consumers.map((c) => c.stop().catch(() => {})));
    await producer?.disconnect();
  });

  async function topicWith(events: Event[]): Promise<string> {
    const topic = uniqueName("roster-sdk-lifecycle");
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
    await admin.disconnect();
    await send(topic, events);
    return topic;
  }

  async function send(topic: string, events: Event[]): Promise<void> {
    if (events.length > 0) await producer.send({ topic, acks: -1, messages: events.map((e) => message(e)) });
  }

  function consume(topic: string, groupId: string) {
    const seen: Event[] = [];
    const waiters: Array<{ count: number; resolve: () => void }> = [];
    const c = createLifecycleConsumer(kafka, {
      groupId,
      topics: [topic],
      onEvent: (event) => {
        seen.push(event);
        for (const w of waiters) if (seen.length >= w.count) w.resolve();
      },
    });
    consumers.push(c);
    const until = (count: number) =>
      new Promise<void>((resolve, reject) => {
        if (seen.length >= count) return resolve();
        const timer = setTimeout(() => reject(new Error(`only ${seen.length} of ${count} events arrived`)), 20_000);
        waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
      });
    return { c, seen, until };
  }

  const perSubject = (events: Event[]) => {
    const out: Record<string, string[]> = {};
    for (const e of events) (out[e.subjectId] ??= []).push(`${e.sequence}:${e.id}`);
    return out;
  };

  it("hands each event over once, per subject in order; stops at a gap without committing past it", async () => {
    const a = [1, 2, 3, 4].map((s) => userEvent(DIR, "user-a", s));
    const b = [5, 6].map((s) => userEvent(DIR, "user-b", s)); // starts mid-history: 5 is the baseline
    // The relay publishes at least once: a redelivered event (same id) comes again.
    const topic = await topicWith([a[0]!, b[0]!, a[1]!, a[1]!, b[1]!, a[2]!, a[3]!, a[2]!]);
    const group = uniqueName("roster-sdk-group");
    const first = consume(topic, group);
    await first.c.start();
    await first.until(6);
    expect(perSubject(first.seen)).toEqual({
      "user-a": a.map((e) => `${e.sequence}:${e.id}`),
      "user-b": b.map((e) => `${e.sequence}:${e.id}`),
    });

    // user-a's 5 and 6 are lost: 7 arrives.
    const after = userEvent(DIR, "user-a", 7);
    await send(topic, [after]);
    const error = await first.c.stopped.then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(SequenceGapError);
    expect(error).toMatchObject({ subjectId: "user-a", expected: 5n, received: 7n, eventId: after.id });
    expect(first.seen.map((e) => e.id)).not.toContain(after.id);
    expect(first.seen).toHaveLength(6);

    // The message after the hole was not committed: the group reads it again (a new member
    // has no baseline for user-a, so it takes 7 as one).
    const second = consume(topic, group);
    await second.c.start();
    await second.until(1);
    expect(second.seen.map((e) => e.id)).toEqual([after.id]);
    await second.c.stop();
    await expect(second.c.stopped).resolves.toBeUndefined();
  });

  it("stops on a message that is not a lifecycle event, or skips it when told", async () => {
    const good = userEvent(DIR, "user-c", 1);
    const topic = uniqueName("roster-sdk-invalid");
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    await producer.send({ topic, acks: -1, messages: [{ key: "user-c", value: "not protobuf", headers: { ce_specversion: "1.0" } }, message(good)] });

    const strict = consume(topic, uniqueName("roster-sdk-group"));
    await strict.c.start();
    await expect(strict.c.stopped).rejects.toBeInstanceOf(LifecycleMessageError);
    expect(strict.seen).toHaveLength(0);

    const skipped: string[] = [];
    const seen: string[] = [];
    const lenient = createLifecycleConsumer(kafka, {
      groupId: uniqueName("roster-sdk-group"),
      topics: [topic],
      invalidMessages: "skip",
      onInvalid: (e, ctx) => skipped.push(`${ctx.offset}:${e.message}`),
      onEvent: (e) => void seen.push(e.id),
    });
    consumers.push(lenient);
    await lenient.start();
    await expect.poll(() => seen, { timeout: 20_000 }).toEqual([good.id]);
    expect(skipped).toEqual(["0:missing CloudEvents header ce_id"]);
  });

  it("waits for topics that do not exist yet, never creating them, then reads them", async () => {
    const topic = uniqueName("roster-sdk-later");
    const waiting: string[][] = [];
    const seen: string[] = [];
    const c = createLifecycleConsumer(kafka, {
      groupId: uniqueName("roster-sdk-group"),
      topics: [topic],
      topicPollMs: 200,
      onWaitingForTopics: (missing) => waiting.push(missing),
      onEvent: (e) => void seen.push(e.id),
    });
    consumers.push(c);
    const started = c.start();
    await expect.poll(() => waiting.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    expect(waiting[0]).toEqual([topic]);
    const admin = kafka.admin();
    await admin.connect();
    try {
      // Still absent: the broker would have auto-created it with its default partition count.
      expect(await admin.listTopics()).not.toContain(topic);
      await admin.createTopics({ topics: [{ topic, numPartitions: 6 }], waitForLeaders: true });
      const event = userEvent(DIR, "user-later", 1, "userCreated");
      await send(topic, [event]);
      await started;
      await expect.poll(() => seen, { timeout: 20_000 }).toEqual([event.id]);
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
      expect(metadata.topics[0]!.partitions).toHaveLength(6);
    } finally {
      await admin.disconnect();
    }
  });

  it("stop() while waiting for topics ends start() without creating them", async () => {
    const topic = uniqueName("roster-sdk-never");
    const c = createLifecycleConsumer(kafka, { groupId: uniqueName("roster-sdk-group"), topics: [topic], topicPollMs: 100, onEvent: () => {} });
    const started = c.start();
    await new Promise((r) => setTimeout(r, 300));
    await c.stop();
    await started;
    await expect(c.stopped).resolves.toBeUndefined();
    const admin = kafka.admin();
    await admin.connect();
    expect(await admin.listTopics()).not.toContain(topic);
    await admin.disconnect();
  });

  it("says when it has caught up: everything the partitions held at start handled, then live", async () => {
    const events = Array.from({ length: 30 }, (_, i) => userEvent(DIR, `user-cu-${i % 7}`, Math.floor(i / 7) + 1));
    const topic = await topicWith(events);
    const group = uniqueName("roster-sdk-group");
    const first = consume(topic, group);
    let seenWhenCaughtUp = -1;
    first.c.caughtUp.then(() => (seenWhenCaughtUp = first.seen.length), () => {});
    await first.c.start();
    await first.c.caughtUp;
    expect(seenWhenCaughtUp).toBe(events.length);
    // Live after that: a new event still arrives.
    await send(topic, [userEvent(DIR, "user-cu-live", 1)]);
    await first.until(events.length + 1);
    await first.c.stop();

    // A member of the same group with nothing new to read is caught up at once.
    const second = consume(topic, group);
    await second.c.start();
    await second.c.caughtUp;
    expect(second.seen).toHaveLength(0);
    await second.c.stop();

    // One that stops before catching up is told so.
    const third = consume(await topicWith([userEvent(DIR, "user-cu-stop", 1)]), uniqueName("roster-sdk-group"));
    const never = createLifecycleConsumer(kafka, { groupId: uniqueName("roster-sdk-group"), topics: [uniqueName("roster-sdk-absent")], onEvent: () => {} });
    const starting = never.start();
    await never.stop();
    await starting;
    await expect(never.caughtUp).rejects.toThrow(/stopped before it caught up/);
    await third.c.stop();
  });
});
