// The relay and EventService through the real entry points: DirectoryService writes over
// HTTP, a real Kafka broker read by a consumer, EventService over HTTP.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { DirectoryService, ProviderKind } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { EventService, SubjectType, type Event } from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { queryDatabase } from "../testing/database.ts";
import { eventually, readTopics, type TopicReader } from "../testing/events.ts";
import { uniqueName } from "../testing/kafka.ts";
import { startTestRoster, type TestRoster } from "../testing/roster.ts";

let t: TestRoster;
let reader: TopicReader;
const userTopic = uniqueName("roster-test-users");
const groupTopic = uniqueName("roster-test-groups");

beforeAll(async () => {
  t = await startTestRoster({
    ROSTER_ROLES: "core,scim,relay",
    ROSTER_USER_TOPIC: userTopic,
    ROSTER_GROUP_TOPIC: groupTopic,
    KAFKA_TOPIC_PARTITIONS: "3",
    ROSTER_RELAY_POLL_MS: "50",
    ROSTER_STREAM_POLL_MS: "100",
  });
  reader = await readTopics([userTopic, groupTopic]);
});

afterAll(async () => {
  await reader?.stop();
  await t?.stop();
});

async function directory(): Promise<string> {
  const { directory } = await t.client(DirectoryService).createDirectory({ name: uniqueName("events"), provider: ProviderKind.OKTA });
  return directory!.id;
}

function user(userName: string, active = true) {
  return { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName, active, name: { givenName: "Ada", familyName: "Lovelace" } };
}

function ofSubject(subjectId: string): Event[] {
  return reader.messages.filter((m) => m.key === subjectId).map((m) => m.event);
}

describe("relay to Kafka", () => {
  it("publishes a user's lifecycle in order, keyed by the user, with CloudEvents headers", async () => {
    const dirId = await directory();
    const admin = t.client(DirectoryService);
    const { user: created } = await admin.createUser({ directoryId: dirId, resource: user("ada@example.com") });
    const id = created!.id;
    await admin.replaceUser({ directoryId: dirId, id, resource: { ...user("ada@example.com"), title: "Engineer" } });
    const { group } = await admin.createGroup({ directoryId: dirId, resource: { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: "eng" } });
    await admin.addGroupMembers({ directoryId: dirId, groupId: group!.id, userIds: [id] });
    await admin.deactivateUser({ directoryId: dirId, id });
    await admin.deleteUser({ directoryId: dirId, id });

    const events = await eventually(() => ofSubject(id).length >= 6 && ofSubject(id), 20_000, "the user's events in Kafka");
    expect(events.map((e) => [e.type, Number(e.sequence)])).toEqual([
      ["user.created", 1],
      ["user.updated", 2],
      ["user.added_to_group", 3],
      ["user.deactivated", 4],
      ["user.removed_from_group", 5],
      ["user.deleted", 6],
    ]);
    const first = reader.messages.find((m) => m.key === id)!;
    expect(first.topic).toBe(userTopic);
    expect(first.headers).toMatchObject({
      ce_specversion: "1.0",
      ce_id: first.event.id,
      ce_type: "io.roster.user.created",
      ce_source: `/directories/${dirId}`,
      "content-type": "application/protobuf",
    });
    expect(new Date(first.headers.ce_time!).toString()).not.toBe("Invalid Date");
    // One partition per user: the key routes every event of the user alike.
    expect(new Set(reader.messages.filter((m) => m.key === id).map((m) => m.partition)).size).toBe(1);
    // The envelope carries the new state and its global position.
    expect(events[0]!.payload.case).toBe("userCreated");
    expect(events[0]!.subjectType).toBe(SubjectType.USER);
    expect(events[0]!.position).toBeGreaterThan(0n);
    const deactivated = events[3]!.payload;
    expect(deactivated.case).toBe("userDeactivated");
    if (deactivated.case === "userDeactivated") expect(deactivated.value.user?.userName).toBe("ada@example.com");
    const added = events[2]!.payload;
    if (added.case === "userAddedToGroup") expect(added.value.group?.displayName).toBe("eng");
    else throw new Error(`expected userAddedToGroup, got ${added.case}`);
    // Every user event carries the canonical user as of it (Okta preset: userName lower-cased).
    for (const e of events) {
      const canonical = (e.payload.value as { canonical?: { username: string; version: bigint; groupIds: string[] } } | undefined)?.canonical;
      expect(canonical, e.type).toMatchObject({ username: "ada@example.com", version: e.sequence });
    }
    if (added.case === "userAddedToGroup") expect(added.value.canonical?.groupIds).toEqual([group!.id]);

    // Group events go to the group topic, keyed by the group.
    const groupEvents = await eventually(() => reader.messages.filter((m) => m.key === group!.id).length >= 2 && reader.messages.filter((m) => m.key === group!.id));
    expect(groupEvents.every((m) => m.topic === groupTopic)).toBe(true);
    expect(groupEvents.map((m) => m.event.type).slice(0, 2)).toEqual(["group.created", "group.members_added"]);

    // Marked published only with a position; positions are gap-free.
    const rows = await queryDatabase<{ position: string }>(t.database.url, "SELECT position::text FROM event_positions ORDER BY position");
    expect(rows.map((r) => Number(r.position))).toEqual(rows.map((_, i) => i + 1));
  });

  it("reports its lag and leadership", async () => {
    const relay = t.roster.relay!.relay;
    await eventually(() => relay.isLeader, 10_000, "leadership");
    await relay.measureLag();
    expect(relay.metrics()).toMatchObject({ leader: true, errorsTotal: 0 });
  });
});

describe("EventService", () => {
  it("lists a directory's events in global order, pages by cursor and filters", async () => {
    const dirId = await directory();
    const other = await directory();
    const admin = t.client(DirectoryService);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await admin.createUser({ directoryId: dirId, resource: user(`u${i}@example.com`) })).user!.id);
    await admin.createUser({ directoryId: other, resource: user("elsewhere@example.com") });
    await admin.deactivateUser({ directoryId: dirId, id: ids[2]! });
    const events = t.client(EventService);
    await eventually(async () => (await events.listEvents({ directoryId: dirId, pageSize: 100 })).events.length === 6, 20_000, "6 published events");

    const seen: Event[] = [];
    let cursor = "";
    for (;;) {
      const page = await events.listEvents({ directoryId: dirId, cursor, pageSize: 4 });
      seen.push(...page.events);
      expect(page.nextCursor).not.toBe("");
      if (page.events.length === 0) break;
      cursor = page.nextCursor;
    }
    expect(seen.map((e) => e.directoryId)).toEqual(Array(6).fill(dirId));
    const positions = seen.map((e) => e.position);
    expect([...positions].sort((a, b) => (a < b ? -1 : 1))).toEqual(positions);
    expect(seen.at(-1)!.type).toBe("user.deactivated");

    const byType = await events.listEvents({ directoryId: dirId, filter: { types: ["user.deactivated"] } });
    expect(byType.events.map((e) => e.subjectId)).toEqual([ids[2]]);
    // A short page moves the cursor to the head, so a filtered reader continues from there.
    await admin.deactivateUser({ directoryId: dirId, id: ids[3]! });
    const more = await eventually(async () => {
      const page = await events.listEvents({ directoryId: dirId, cursor: byType.nextCursor, filter: { types: ["user.deactivated"] } });
      return page.events.length > 0 && page;
    });
    expect(more.events.map((e) => e.subjectId)).toEqual([ids[3]]);
    const bySubject = await events.listEvents({ directoryId: dirId, filter: { subjectId: ids[2]! } });
    expect(bySubject.events.map((e) => e.type)).toEqual(["user.created", "user.deactivated"]);
    const fromLater = await events.listEvents({ directoryId: dirId, startTime: { seconds: BigInt(Math.floor(Date.now() / 1000) + 3600), nanos: 0 } });
    expect(fromLater.events).toEqual([]);

    const timeline = await events.listSubjectEvents({ directoryId: dirId, subjectId: ids[2]!, pageSize: 1 });
    expect(timeline.events.map((e) => Number(e.sequence))).toEqual([1]);
    expect(timeline.nextAfterSequence).toBe(1n);
    const rest = await events.listSubjectEvents({ directoryId: dirId, subjectId: ids[2]!, afterSequence: 1n });
    expect(rest.events.map((e) => e.type)).toEqual(["user.deactivated"]);
    expect(rest.nextAfterSequence).toBe(0n);
  });

  it("refuses a forged cursor and an unknown directory", async () => {
    const events = t.client(EventService);
    const dirId = await directory();
    await expect(events.listEvents({ directoryId: dirId, cursor: "garbage!" })).rejects.toSatisfy((e) => ConnectError.from(e).code === Code.InvalidArgument);
    await expect(events.listEvents({ directoryId: "01a22241-af25-769b-b086-54a9ac54e2c2" })).rejects.toSatisfy((e) => ConnectError.from(e).code === Code.NotFound);
    // Errors raised inside a stream keep their code too.
    const stream = events.streamEvents({ directoryId: dirId, cursor: "garbage!" });
    await expect((async () => {
      for await (const _ of stream) break;
    })()).rejects.toSatisfy((e) => ConnectError.from(e).code === Code.InvalidArgument);
  });

  it("streams: replays, follows live, and resumes after the last cursor", async () => {
    const dirId = await directory();
    const admin = t.client(DirectoryService);
    const first = (await admin.createUser({ directoryId: dirId, resource: user("s1@example.com") })).user!.id;
    const events = t.client(EventService);

    const abort = new AbortController();
    const received: Array<{ event: Event; cursor: string }> = [];
    const stream = events.streamEvents({ directoryId: dirId }, { signal: abort.signal });
    const iterator = stream[Symbol.asyncIterator]();
    const next = async () => {
      const r = await iterator.next();
      if (r.done) throw new Error("stream ended");
      received.push({ event: r.value.event!, cursor: r.value.cursor });
      return r.value.event!;
    };
    expect((await next()).subjectId).toBe(first); // replayed
    await admin.deactivateUser({ directoryId: dirId, id: first });
    const live = await next(); // followed live
    expect([live.type, Number(live.sequence)]).toEqual(["user.deactivated", 2]);
    abort.abort();

    // Resume from the last cursor: only what came after.
    const second = (await admin.createUser({ directoryId: dirId, resource: user("s2@example.com") })).user!.id;
    const resumed = events.streamEvents({ directoryId: dirId, cursor: received.at(-1)!.cursor });
    for await (const r of resumed) {
      expect(r.event!.subjectId).toBe(second);
      expect(r.event!.type).toBe("user.created");
      break;
    }
  });

  it("ends open streams cleanly when the server shuts down", async () => {
    const local = await startTestRoster({ ROSTER_ROLES: "core,scim,relay", ROSTER_USER_TOPIC: uniqueName("roster-test-users"), ROSTER_GROUP_TOPIC: uniqueName("roster-test-groups"), ROSTER_RELAY_POLL_MS: "50" });
    try {
      const { directory: d } = await local.client(DirectoryService).createDirectory({ name: "shutdown", provider: ProviderKind.OKTA });
      await local.client(DirectoryService).createUser({ directoryId: d!.id, resource: user("bye@example.com") });
      const iterator = local.client(EventService).streamEvents({ directoryId: d!.id })[Symbol.asyncIterator]();
      // One event received: the stream is open and now waiting for more.
      expect((await iterator.next()).done).toBe(false);
      const ended = iterator.next().then(
        (r) => ({ done: r.done, error: undefined }),
        (error: unknown) => ({ done: undefined, error }),
      );
      const started = performance.now();
      await local.stopServer();
      expect(performance.now() - started).toBeLessThan(5_000);
      expect(await ended).toEqual({ done: true, error: undefined });
    } finally {
      await local.database.drop();
    }
  });
});

describe("with no broker configured (the embedded default)", () => {
  it("gives events their positions and serves them over EventService, saying once that nothing goes to Kafka", async () => {
    const local = await startTestRoster({ ROSTER_ROLES: "core,scim,relay", KAFKA_BROKERS: "", ROSTER_RELAY_POLL_MS: "50", ROSTER_STREAM_POLL_MS: "100" });
    try {
      const admin = local.client(DirectoryService);
      const { directory: d } = await admin.createDirectory({ name: "no broker", provider: ProviderKind.OKTA });
      const id = (await admin.createUser({ directoryId: d!.id, resource: user("first@example.com") })).user!.id;
      const events = local.client(EventService);
      const listed = await eventually(async () => {
        const page = await events.listEvents({ directoryId: d!.id });
        return page.events.length === 1 && page;
      }, 10_000, "the event listed");
      expect(listed.events.map((e) => [e.subjectId, e.type, e.position > 0n])).toEqual([[id, "user.created", true]]);

      const iterator = events.streamEvents({ directoryId: d!.id, cursor: listed.nextCursor })[Symbol.asyncIterator]();
      await admin.deactivateUser({ directoryId: d!.id, id });
      const live = await iterator.next();
      expect([live.value?.event?.type, live.value?.event?.sequence]).toEqual(["user.deactivated", 2n]);
      await iterator.return?.();

      const said = local.logs.filter((l) => l.includes("no Kafka broker configured"));
      expect(said).toHaveLength(1);
      expect(local.logs.filter((l) => l.includes("relay round failed"))).toEqual([]);
      expect(local.roster.relay!.relay.metrics()).toMatchObject({ errorsTotal: 0 });
    } finally {
      await local.stop();
    }
  });
});
