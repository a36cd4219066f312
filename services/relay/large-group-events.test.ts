// A 100,000-member group deleted over SCIM while another directory offboards users, through
// the real entry points (SCIM over HTTP, the relay, a real Kafka broker, EventService). The
// group's membership change must come out in bounded parts, complete and in order, and must
// not hold the other directory's leavers back. The group is built in SQL (users and
// memberships, with subject cursors as if its history had been published and had aged out of
// the replay window); the delete itself goes through SCIM.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProviderKind } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { EventService, type Event } from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { MAX_MEMBER_IDS_PER_EVENT } from "../core/domain/events.ts";
import { MAX_EVENT_BYTES } from "../event-log/index.ts";
import { eventually, readTopics, type TopicReader } from "../testing/events.ts";
import { uniqueName } from "../testing/kafka.ts";
import { seedPublishedGroup } from "../testing/large-group.ts";
import { startTestRoster, type TestRoster } from "../testing/roster.ts";
import { queryDatabase } from "../testing/database.ts";
import { checkContiguous, createScimDirectory, eventsOf, GROUP_SCHEMA, patchOp, USER_SCHEMA, type ScimDirectory } from "../testing/scim.ts";

const MEMBERS = 100_000;
const LEAVERS = 30;
const PARTS = MEMBERS / MAX_MEMBER_IDS_PER_EVENT;
/** The group's version once built: created, then its members added in PARTS parts. */
const BUILT_VERSION = 1 + PARTS;

let t: TestRoster;
let reader: TopicReader;
const userTopic = uniqueName("roster-test-big-users");
const groupTopic = uniqueName("roster-test-big-groups");
let big: ScimDirectory;
let leavers: ScimDirectory;
let groupId: string;
let memberIds: string[];
let leaverIds: string[];

beforeAll(async () => {
  t = await startTestRoster({
    ROSTER_ROLES: "core,scim,relay",
    ROSTER_USER_TOPIC: userTopic,
    ROSTER_GROUP_TOPIC: groupTopic,
    KAFKA_TOPIC_PARTITIONS: "3",
    ROSTER_RELAY_POLL_MS: "50",
    ROSTER_STREAM_POLL_MS: "100",
    ROSTER_LOG_LEVEL: "info",
  });
  reader = await readTopics([userTopic, groupTopic]);
  big = await createScimDirectory(t, ProviderKind.OKTA);
  leavers = await createScimDirectory(t, ProviderKind.ENTRA);
  leaverIds = [];
  for (let i = 0; i < LEAVERS; i++) {
    const created = await leavers.scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: `leaver${i}@example.com` });
    expect(created.status).toBe(201);
    leaverIds.push(created.body.id);
  }
  ({ groupId, memberIds } = await seedPublishedGroup(t.database.url, big.id, MEMBERS));
}, 120_000);

afterAll(async () => {
  await reader?.stop();
  await t?.stop();
});

describe("a 100,000-member group deleted while another directory offboards", () => {
  it("publishes the group's change in bounded parts, complete and in order, and keeps the leavers flowing", async () => {
    // The leavers' directory, followed over StreamEvents from the start.
    const streamed = new Map<string, number>(); // leaver id -> when its deactivation arrived
    const abort = new AbortController();
    const streaming = (async () => {
      for await (const r of t.client(EventService).streamEvents({ directoryId: leavers.id }, { signal: abort.signal })) {
        if (r.event!.type === "user.deactivated") streamed.set(r.event!.subjectId, performance.now());
      }
    })().catch(() => {});

    // When each deactivation shows up in Kafka, watched all along.
    const inKafka = new Map<string, number>();
    let scanned = 0;
    const watch = setInterval(() => {
      for (; scanned < reader.messages.length; scanned++) {
        const m = reader.messages[scanned]!;
        if (m.event.type === "user.deactivated" && !inKafka.has(m.key)) inKafka.set(m.key, performance.now());
      }
    }, 20);

    // Deactivations: a third before the delete, a third while it runs, a third after it.
    const committed = new Map<string, number>();
    const deactivate = async (ids: readonly string[]) => {
      for (const id of ids) {
        const answer = await leavers.scim("PATCH", `/Users/${id}`, patchOp({ op: "replace", value: { active: false } }));
        expect([200, 204], answer.text).toContain(answer.status);
        committed.set(id, performance.now());
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const [before, during, after] = [0, 1, 2].map((i) => leaverIds.slice((i * LEAVERS) / 3, ((i + 1) * LEAVERS) / 3));
    await deactivate(before!);
    const started = performance.now();
    const deleting = big.scim("DELETE", `/Groups/${groupId}`);
    await deactivate(during!);
    const deleted = await deleting;
    const deleteAnsweredAt = performance.now();
    const deleteMs = deleteAnsweredAt - started;
    expect(deleted.status, deleted.text).toBe(204);
    await deactivate(after!);

    // Every deactivation reaches Kafka and StreamEvents, each within seconds of its commit.
    await eventually(
      () => leaverIds.every((id) => inKafka.has(id) && streamed.has(id)),
      600_000,
      "every deactivation in Kafka and StreamEvents",
    );
    // How long each deactivation took to show up in both, from its commit: those written while
    // the delete's transaction was open too (it holds back only its own events).
    const lateness = (ids: readonly string[]) => Math.max(...ids.map((id) => Math.max(inKafka.get(id)!, streamed.get(id)!) - committed.get(id)!));

    // Delivery is at least once: consumers drop duplicates by event id, and so does this test.
    const distinct = (messages: typeof reader.messages) => [...new Map(messages.map((m) => [m.event.id, m])).values()];
    // The group's events: every part of the member removal, then the tombstone.
    const groupMessages = await eventually(
      () => {
        const ofGroup = distinct(reader.messages.filter((m) => m.key === groupId));
        return ofGroup.length >= PARTS + 1 && ofGroup;
      },
      600_000,
      "the group's events in Kafka",
    );
    const removedFromGroup = await eventually(
      () => {
        const removals = distinct(reader.messages.filter((m) => m.event.type === "user.removed_from_group"));
        return removals.length >= MEMBERS && removals;
      },
      600_000,
      "every member's removal in Kafka",
    );
    const total = performance.now() - started;
    const worst = { before: lateness(before!), during: lateness(during!), after: lateness(after!) };
    console.log("ms", { delete: Math.round(deleteMs), total: Math.round(total), ...Object.fromEntries(Object.entries(worst).map(([k, v]) => [`leavers ${k}`, Math.round(v)])) });

    abort.abort();
    clearInterval(watch);
    await streaming;

    expect(groupMessages).toHaveLength(PARTS + 1);
    expect(groupMessages.map((m) => Number(m.event.sequence))).toEqual(Array.from({ length: PARTS + 1 }, (_, i) => BUILT_VERSION + 1 + i));
    expect(groupMessages.map((m) => m.event.type)).toEqual([...Array(PARTS).fill("group.members_removed"), "group.deleted"]);
    const seen: string[] = [];
    groupMessages.slice(0, PARTS).forEach((m, i) => {
      const p = m.event.payload;
      if (p.case !== "groupMembersRemoved") throw new Error(`expected groupMembersRemoved, got ${p.case}`);
      expect([p.value.part, p.value.parts]).toEqual([i + 1, PARTS]);
      expect(p.value.userIds.length).toBe(MAX_MEMBER_IDS_PER_EVENT);
      seen.push(...p.value.userIds);
    });
    expect(seen.length).toBe(MEMBERS);
    expect(new Set(seen)).toEqual(new Set(memberIds));
    // Within the bound, by a wide margin.
    const sizes = reader.messages.filter((m) => m.key === groupId).map((m) => m.size);
    expect(Math.max(...sizes)).toBeLessThan(MAX_EVENT_BYTES / 8);
    expect(removedFromGroup.length).toBe(MEMBERS);
    expect(new Set(removedFromGroup.map((m) => m.key))).toEqual(new Set(memberIds));

    // Nothing parked, nothing left behind.
    expect(t.roster.relay!.relay.metrics()).toMatchObject({ parkedTotal: 0 });
    // No leaver waits behind the group's 100,000 events: the old relay stalled every later event
    // of every directory behind the refused 4 MB event, for good; a relay in plain outbox order
    // would hold the later ones for the whole drain.
    expect(worst.before).toBeLessThan(15_000);
    expect(worst.during).toBeLessThan(15_000);
    expect(worst.after).toBeLessThan(15_000);
    const list = await t.client(EventService).listEvents({ directoryId: big.id, filter: { subjectId: groupId }, pageSize: 1000 });
    expect(list.events.map((e: Event) => Number(e.sequence))).toEqual(groupMessages.map((m) => Number(m.event.sequence)));
  }, 900_000);
});

describe("a group created with 2,500 members over SCIM", () => {
  it("is announced in parts of at most 1,000 ids, each a version of the group, and emptied the same way", async () => {
    const ids = (
      await queryDatabase<{ id: string }>(
        t.database.url,
        `INSERT INTO users (id, directory_id, user_name, external_id, active, state, display_name, resource, version, created_at, updated_at, deleted_at)
         SELECT gen_random_uuid(), $1, 'part' || i || '@example.com', NULL, true, 'active', NULL,
                jsonb_build_object('schemas', jsonb_build_array('${USER_SCHEMA}'), 'userName', 'part' || i || '@example.com', 'active', true), 0, now(), now(), NULL
           FROM generate_series(1, 2500) AS i RETURNING id::text`,
        [big.id],
      )
    ).map((r) => r.id);
    const created = await big.scim("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: "Parts", members: ids.map((value) => ({ value })) });
    expect(created.status, created.text).toBe(201);
    expect(created.headers.get("etag")).toBe('W/"3"');
    const id = created.body.id as string;
    const emptied = await big.scim("PATCH", `/Groups/${id}`, patchOp({ op: "replace", path: "members", value: [] }));
    expect(emptied.status, emptied.text).toBe(204);

    const events = await eventsOf(t, id);
    checkContiguous(events);
    const parts = (type: string) =>
      events.filter((e) => e.type === type).map((e) => ({ part: e.payload.part, parts: e.payload.parts, ids: (e.payload.memberUserIds ?? e.payload.userIds) as string[] }));
    for (const type of ["group.created", "group.members_removed"]) {
      const got = parts(type);
      expect(got.map((p) => [p.part, p.parts, p.ids.length]), type).toEqual([[1, 3, 1000], [2, 3, 1000], [3, 3, 500]]);
      expect(new Set(got.flatMap((p) => p.ids)), type).toEqual(new Set(ids));
    }
    expect(events.map((e) => e.type)).toEqual([...Array(3).fill("group.created"), ...Array(3).fill("group.members_removed")]);
    // Each part carries the group as of its own version.
    expect(events.map((e) => e.payload.group.version)).toEqual([1, 2, 3, 4, 5, 6]);
  }, 60_000);
});
