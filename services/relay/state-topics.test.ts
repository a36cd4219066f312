// The lifecycle topics as a data product, on a real broker: the compacted state topics equal
// ListUsers/ListGroups of each directory (deleted subjects as tombstones), in sequence order
// per key; the value formats for tools without protobuf; and a consumer outside Node (the
// Java consumer in consumers/java) whose output equals ListUsers.
import { execFile } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, equals, fromBinary, fromJson, fromJsonString, toJsonString, type JsonValue } from "@bufbuild/protobuf";
import { Kafka, logLevel } from "kafkajs";
import {
  DeprovisioningMode,
  DirectoryService,
  GroupSchema,
  HoldDecision,
  ProviderKind,
  UserSchema,
  type Group,
  type User,
} from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { EventSchema, EventService, SnapshotUserSchema, type Event, type SnapshotUser } from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { SubjectStateSchema, type SubjectState } from "@roster/sdk/gen/roster/events/v1/state_pb.js";
import { CanonicalUserSchema, GroupMatch, MappingService, type RoleRule } from "@roster/sdk/gen/roster/mapping/v1/mapping_pb.js";
import { ConfigError, loadConfig } from "../config.ts";
import { queryDatabase } from "../testing/database.ts";
import { eventually, readRecords, type RawRecord, type RecordReader } from "../testing/events.ts";
import { testKafkaBrokers, uniqueName } from "../testing/kafka.ts";
import { startTestRoster, type TestRoster } from "../testing/roster.ts";
import { STATE_SEQUENCE_HEADER } from "./outbound.ts";
import { EVENT_TYPES } from "../../sdk/src/events.ts";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../..");

const topics = {
  users: uniqueName("roster-test-dp-users"),
  groups: uniqueName("roster-test-dp-groups"),
  userState: uniqueName("roster-test-dp-users-state"),
  groupState: uniqueName("roster-test-dp-groups-state"),
};

let t: TestRoster;
let reader: RecordReader;

beforeAll(async () => {
  t = await startTestRoster({
    ROSTER_ROLES: "core,scim,relay",
    ROSTER_USER_TOPIC: topics.users,
    ROSTER_GROUP_TOPIC: topics.groups,
    ROSTER_USER_STATE_TOPIC: topics.userState,
    ROSTER_GROUP_STATE_TOPIC: topics.groupState,
    KAFKA_TOPIC_PARTITIONS: "3",
    ROSTER_RELAY_POLL_MS: "50",
  });
  await warmUp(t);
  await eventually(async () => (await topicConfigs([topics.userState])).size === 1, 20_000, "the state topics");
  reader = await readRecords(Object.values(topics));
}, 90_000);

afterAll(async () => {
  await reader?.stop();
  await t?.stop();
});

/** The relay makes its topics before its first publication: a user in a directory of its own. */
async function warmUp(roster: TestRoster): Promise<void> {
  const admin = roster.client(DirectoryService);
  const { directory } = await admin.createDirectory({ name: uniqueName("warmup"), provider: ProviderKind.OKTA });
  await admin.createUser({ directoryId: directory!.id, resource: userResource("warmup@example.com") });
}

async function topicConfigs(names: readonly string[]): Promise<Map<string, Record<string, string>>> {
  const kafka = new Kafka({ clientId: "roster-test-configs", brokers: testKafkaBrokers(), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const present = names.filter((n) => existing.has(n));
    if (present.length === 0) return new Map();
    const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: present.map((name) => ({ type: 2, name })) });
    return new Map(resources.map((r) => [r.resourceName, Object.fromEntries(r.configEntries.map((e) => [e.configName, e.configValue]))]));
  } finally {
    await admin.disconnect();
  }
}

const userResource = (userName: string, extra: Record<string, JsonValue> = {}) => ({
  schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
  userName,
  active: true,
  name: { givenName: "Ada", familyName: "Lovelace" },
  ...extra,
});
const groupResource = (displayName: string) => ({ schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName });

/**
 * A mix of every kind of change: creates, updates, group creates/renames/joins/leaves,
 * deactivations, a reactivation, user and group deletes, roles from a mapping rule, and the
 * deprovisioning brake (alert in one directory; hold and release in the other), so every
 * event type the service emits is on the topics.
 */
async function scenario(name: string, brake: "alert" | "hold"): Promise<string> {
  const admin = t.client(DirectoryService);
  const { directory } = await admin.createDirectory({ name: uniqueName(name), provider: ProviderKind.OKTA });
  const dir = directory!.id;
  await t.client(MappingService).updateMapping({ directoryId: dir, roleRules: [{ match: GroupMatch.DISPLAY_NAME_PATTERN, value: "eng-*", roles: ["engineer"] } as RoleRule] });
  const users: string[] = [];
  for (let i = 0; i < 24; i++) {
    // Hostile-looking but valid values: quotes, non-Latin text, emoji, a JSON-looking string.
    const extra: Record<string, JsonValue> = i % 5 === 0 ? { title: `"Lead" ✨ 工程师 {"x":1} #${i}` } : {};
    const { user } = await admin.createUser({ directoryId: dir, resource: userResource(`${name}-${i}@example.com`, extra) });
    users.push(user!.id);
  }
  const { group: eng } = await admin.createGroup({ directoryId: dir, resource: groupResource("eng-core"), memberUserIds: users.slice(0, 8) });
  const { group: sales } = await admin.createGroup({ directoryId: dir, resource: groupResource("sales"), memberUserIds: users.slice(8, 14) });
  const { group: doomed } = await admin.createGroup({ directoryId: dir, resource: groupResource("doomed"), memberUserIds: users.slice(14, 18) });
  for (const id of users.slice(0, 6)) await admin.replaceUser({ directoryId: dir, id, resource: userResource(`${name}-${users.indexOf(id)}@example.com`, { title: "Engineer" }) });
  await admin.addGroupMembers({ directoryId: dir, groupId: eng!.id, userIds: users.slice(18, 22) });
  await admin.removeGroupMembers({ directoryId: dir, groupId: sales!.id, userIds: users.slice(8, 10) });
  await admin.updateGroup({ directoryId: dir, id: sales!.id, resource: groupResource("sales-emea") });
  await admin.setDeprovisioningPolicy({
    directoryId: dir,
    policy: { mode: brake === "alert" ? DeprovisioningMode.ALERT : DeprovisioningMode.HOLD, windowSeconds: 3600, maxDeprovisions: 2 },
  });
  const deactivated = [users[2]!, users[10]!, users[19]!];
  for (const id of deactivated) await admin.deactivateUser({ directoryId: dir, id }).catch(() => {});
  if (brake === "hold") {
    // The third deactivation crossed the hold; released for a while, it goes through.
    await admin.decideDeprovisioningHold({ directoryId: dir, decision: HoldDecision.RELEASE_FOR, releaseSeconds: 600 });
    await admin.deactivateUser({ directoryId: dir, id: users[19]! });
  }
  await admin.reactivateUser({ directoryId: dir, id: users[10]! });
  for (const id of [users[0]!, users[12]!, users[23]!]) await admin.deleteUser({ directoryId: dir, id });
  await admin.deleteGroup({ directoryId: dir, id: doomed!.id });
  return dir;
}

async function listUsers(dir: string): Promise<User[]> {
  const out: User[] = [];
  let pageToken = "";
  do {
    const page = await t.client(DirectoryService).listUsers({ directoryId: dir, options: { pageSize: 1000, pageToken } });
    out.push(...page.users);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return out;
}

async function listGroups(dir: string): Promise<Group[]> {
  const out: Group[] = [];
  let pageToken = "";
  do {
    const page = await t.client(DirectoryService).listGroups({ directoryId: dir, options: { pageSize: 1000, pageToken } });
    out.push(...page.groups);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return out;
}

interface Folded {
  /** Per key, the last record: a state, or null for a tombstone. */
  readonly last: Map<string, SubjectState | null>;
  /** Per key, the sequences of its records in arrival order (duplicates by event id dropped). */
  readonly sequences: Map<string, number[]>;
}

/** A state topic read to its end and folded by key, as compaction would leave it. */
function fold(records: readonly RawRecord[], topic: string): Folded {
  const last = new Map<string, SubjectState | null>();
  const sequences = new Map<string, number[]>();
  const seen = new Set<string>();
  for (const r of records) {
    if (r.topic !== topic) continue;
    const state = r.value === null ? null : fromBinary(SubjectStateSchema, r.value);
    const sequence = Number(r.headers[STATE_SEQUENCE_HEADER]);
    if (state) {
      expect(state.subjectId).toBe(r.key);
      expect(Number(state.sequence)).toBe(sequence);
    }
    last.set(r.key, state);
    if (seen.has(r.headers.ce_id!)) continue;
    seen.add(r.headers.ce_id!);
    sequences.set(r.key, [...(sequences.get(r.key) ?? []), sequence]);
  }
  return { last, sequences };
}

function eventsOf(records: readonly RawRecord[], topic: string): Event[] {
  return records.filter((r) => r.topic === topic).map((r) => fromBinary(EventSchema, r.value!));
}

/** The user as the state carries it: as ListUsers has it, without the groups list (its canonical form has the ids). */
function withoutGroups(user: User): User {
  return { ...user, groups: [] };
}

describe("state topics", () => {
  let dirs: string[];
  let deleted: Map<string, Set<string>>;

  beforeAll(async () => {
    dirs = [await scenario("dp-a", "alert"), await scenario("dp-b", "hold")];
    // EventService serves what the relay published: wait until it published everything.
    await eventually(
      async () => (await queryDatabase<{ n: string }>(t.database.url, "SELECT count(*)::text AS n FROM outbox_pending"))[0]!.n === "0",
      30_000,
      "the relay to publish every event",
    );
    // Deleted subjects are those with a *.deleted event.
    deleted = new Map();
    for (const dir of dirs) {
      const { events } = await t.client(EventService).listEvents({ directoryId: dir, pageSize: 1000 });
      deleted.set(dir, new Set(events.filter((e) => e.type === "user.deleted" || e.type === "group.deleted").map((e) => e.subjectId)));
    }
  }, 120_000);

  /** Waits until the state topics have caught up with everything EventService has. */
  async function caughtUp(): Promise<{ users: Folded; groups: Folded }> {
    const published = new Map<string, bigint>();
    for (const dir of dirs) {
      let cursor = "";
      for (;;) {
        const page = await t.client(EventService).listEvents({ directoryId: dir, cursor, pageSize: 1000 });
        for (const e of page.events) if (e.subjectType !== 3) published.set(e.subjectId, e.sequence);
        if (page.events.length === 0) break;
        cursor = page.nextCursor;
      }
    }
    return eventually(
      () => {
        const users = fold(reader.records, topics.userState);
        const groups = fold(reader.records, topics.groupState);
        for (const [subject, sequence] of published) {
          const got = users.sequences.get(subject) ?? groups.sequences.get(subject);
          if (got?.at(-1) !== Number(sequence)) return false;
        }
        return { users, groups };
      },
      30_000,
      "the state topics to catch up",
    );
  }

  it("are made compacted, beside event topics that are not", async () => {
    const configs = await topicConfigs(Object.values(topics));
    expect(configs.get(topics.userState)?.["cleanup.policy"]).toBe("compact");
    expect(configs.get(topics.groupState)?.["cleanup.policy"]).toBe("compact");
    expect(configs.get(topics.users)?.["cleanup.policy"]).toBe("delete");
    expect(configs.get(topics.groups)?.["cleanup.policy"]).toBe("delete");
  });

  it("fold to ListUsers and ListGroups of each directory exactly, deleted subjects as tombstones", async () => {
    const { users, groups } = await caughtUp();
    for (const dir of dirs) {
      const listed = await listUsers(dir);
      const stateUsers = [...users.last].filter(([, s]) => s?.directoryId === dir);
      expect(stateUsers.map(([id]) => id).sort()).toEqual(listed.map((u) => u.id).sort());
      for (const u of listed) {
        const s = users.last.get(u.id)!;
        expect(s.state.case).toBe("user");
        const snapshot = s.state.value as SnapshotUser;
        expect(equals(UserSchema, snapshot.user!, withoutGroups(u)), `user ${u.id}`).toBe(true);
        expect([...snapshot.canonical!.groupIds].sort()).toEqual(u.groups.map((g) => g.id).sort());
        // Its canonical form is GetCanonicalUser's, the raw resource being the user's own.
        const { user: canonical } = await t.client(MappingService).getCanonicalUser({ directoryId: dir, userId: u.id });
        expect(equals(CanonicalUserSchema, snapshot.canonical!, { ...canonical!, raw: undefined })).toBe(true);
      }
      const listedGroups = await listGroups(dir);
      const stateGroups = [...groups.last].filter(([, s]) => s?.directoryId === dir);
      expect(stateGroups.map(([id]) => id).sort()).toEqual(listedGroups.map((g) => g.id).sort());
      for (const g of listedGroups) expect(equals(GroupSchema, groups.last.get(g.id)!.state.value as Group, g), `group ${g.id}`).toBe(true);
      // Every deleted subject's last record is a tombstone.
      for (const id of deleted.get(dir)!) {
        const last = users.last.has(id) ? users.last.get(id) : groups.last.get(id);
        expect(last, `deleted subject ${id}`).toBeNull();
      }
      expect(deleted.get(dir)!.size).toBe(4); // three users and a group
    }
    // Roles from the mapping rule reached the state: engineers by group.
    const engineer = [...users.last.values()].find((s) => s?.state.case === "user" && s.state.value.canonical?.roles.includes("engineer"));
    expect(engineer).toBeDefined();
  });

  it("carry each key's records in sequence order, ending where its event topic ends", async () => {
    const { users, groups } = await caughtUp();
    const events = [...eventsOf(reader.records, topics.users), ...eventsOf(reader.records, topics.groups)];
    const lastEvent = new Map<string, bigint>();
    for (const e of events) lastEvent.set(e.subjectId, e.sequence > (lastEvent.get(e.subjectId) ?? 0n) ? e.sequence : lastEvent.get(e.subjectId)!);
    for (const folded of [users, groups]) {
      for (const [key, sequences] of folded.sequences) {
        expect(sequences, `state records of ${key}`).toEqual(sequences.map((_, i) => i + 1));
        expect(BigInt(sequences.at(-1)!)).toBe(lastEvent.get(key));
      }
    }
    // One partition per key on both kinds of topic: the same partitioner, the same count.
    const partitionOf = new Map<string, number>();
    for (const r of reader.records) {
      const p = partitionOf.get(r.key);
      if (p !== undefined) expect(r.partition, `key ${r.key}`).toBe(p);
      partitionOf.set(r.key, r.partition);
    }
    // A state record names the event it follows: id, type and position agree with the event topic.
    const byId = new Map(events.map((e) => [e.id, e]));
    for (const r of reader.records.filter((r) => r.topic === topics.userState && r.value !== null)) {
      const s = fromBinary(SubjectStateSchema, r.value!);
      const e = byId.get(s.eventId)!;
      expect([s.eventType, s.position, s.sequence]).toEqual([e.type, e.position, e.sequence]);
      expect(r.headers).toMatchObject({ ce_id: e.id, ce_type: "io.roster.user.state", "content-type": "application/protobuf" });
    }
    // A group's state has its member count, never its member list: a few hundred bytes.
    for (const r of reader.records.filter((r) => r.topic === topics.groupState && r.value !== null)) expect(r.value!.byteLength).toBeLessThan(1024);
  });

  it("let a new consumer outside Node (consumers/java) print exactly ListUsers", async () => {
    await buildJavaConsumer();
    await caughtUp();
    for (const dir of dirs) {
      const { stdout, stderr } = await run(
        "java",
        [
          "-Xmx256m",
          "-XX:TieredStopAtLevel=1",
          "-jar",
          JAVA_JAR,
          "--brokers",
          testKafkaBrokers().join(","),
          "--user-topic",
          topics.users,
          "--group-topic",
          topics.groups,
          "--user-state-topic",
          topics.userState,
          "--group-state-topic",
          topics.groupState,
          "--directory",
          dir,
          // No tail of events from before it started: the picture must come from the state topics.
          "--margin-seconds",
          "0",
        ],
        { timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
      );
      const printed = stdout
        .trim()
        .split("\n")
        .map((line) => fromJsonString(SnapshotUserSchema, line));
      const listed = await listUsers(dir);
      expect(printed.map((u) => u.user!.id)).toEqual(listed.map((u) => u.id).sort());
      for (const p of printed) {
        const l = withoutGroups(listed.find((u) => u.id === p.user!.id)!);
        // On a mismatch, both sides in the message (bounded), so a failure says what differs.
        const both = () => `user ${p.user!.id}: printed ${toJsonString(UserSchema, p.user!).slice(0, 1500)} listed ${toJsonString(UserSchema, create(UserSchema, l)).slice(0, 1500)}`;
        expect(equals(UserSchema, p.user!, l), both()).toBe(true);
      }
      // It decoded every event type the service emits.
      for (const type of EVERY_EVENT_TYPE) expect(stderr).toContain(`${type}=`);
    }
  }, 300_000);
});

const EVERY_EVENT_TYPE = Object.values(EVENT_TYPES);

const JAVA_DIR = path.join(root, "consumers/java");
const JAVA_JAR = path.join(JAVA_DIR, "target/roster-consumer.jar");

function newest(dir: string): number {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) t = Math.max(t, statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return t;
}

/** Builds the jar (CI's build step already did) when missing or older than its sources or proto/. */
async function buildJavaConsumer(): Promise<void> {
  const sources = Math.max(newest(path.join(JAVA_DIR, "src")), statSync(path.join(JAVA_DIR, "pom.xml")).mtimeMs, newest(path.join(root, "proto")));
  if (existsSync(JAVA_JAR) && statSync(JAVA_JAR).mtimeMs >= sources) return;
  await run("mvn", ["-B", "-q", "-f", path.join(JAVA_DIR, "pom.xml"), "package"], { timeout: 240_000 });
}

describe("value formats", () => {
  let f: TestRoster;
  let records: RecordReader;
  const named = {
    users: uniqueName("roster-test-fmt-users"),
    groups: uniqueName("roster-test-fmt-groups"),
    userState: uniqueName("roster-test-fmt-users-state"),
    groupState: uniqueName("roster-test-fmt-groups-state"),
  };

  beforeAll(async () => {
    f = await startTestRoster({
      ROSTER_ROLES: "core,scim,relay",
      ROSTER_USER_TOPIC: named.users,
      ROSTER_USER_TOPIC_FORMAT: "json",
      ROSTER_GROUP_TOPIC: named.groups,
      ROSTER_GROUP_TOPIC_FORMAT: "cloudevents-json",
      ROSTER_USER_STATE_TOPIC: named.userState,
      ROSTER_USER_STATE_TOPIC_FORMAT: "cloudevents-json",
      ROSTER_GROUP_STATE_TOPIC: named.groupState,
      ROSTER_GROUP_STATE_TOPIC_FORMAT: "json",
      KAFKA_TOPIC_PARTITIONS: "2",
      ROSTER_RELAY_POLL_MS: "50",
    });
    await warmUp(f);
    await eventually(async () => (await topicConfigs([named.groupState])).size === 1, 20_000, "the state topics");
    records = await readRecords(Object.values(named));
  }, 90_000);

  afterAll(async () => {
    await records?.stop();
    await f?.stop();
  });

  it("publish protobuf's JSON mapping, in binary or structured CloudEvents mode, with the same headers", async () => {
    const admin = f.client(DirectoryService);
    const { directory } = await admin.createDirectory({ name: uniqueName("fmt"), provider: ProviderKind.ENTRA });
    const dir = directory!.id;
    const { user } = await admin.createUser({ directoryId: dir, resource: userResource("json@example.com", { title: "quote \" backslash \\ ✨" }) });
    const { group } = await admin.createGroup({ directoryId: dir, resource: groupResource("json-group"), memberUserIds: [user!.id] });
    await admin.deleteUser({ directoryId: dir, id: user!.id });
    // EventService serves what the relay published: wait for the last of the changes.
    const events = await eventually(async () => {
      const page = await f.client(EventService).listEvents({ directoryId: dir, pageSize: 100 });
      const types = new Set(page.events.map((e) => e.type));
      return types.has("user.deleted") && types.has("group.members_removed") && page.events;
    });
    const eventTopicRecords = await eventually(() => {
      const got = records.records.filter((r) => (r.topic === named.users || r.topic === named.groups) && r.headers.ce_source === `/directories/${dir}`);
      return got.length >= events.length && got;
    });
    const userStateRecords = await eventually(() => {
      const got = records.records.filter((r) => r.topic === named.userState && r.key === user!.id);
      return got.at(-1)?.value === null && got;
    });
    const groupStateRecords = await eventually(() => {
      const got = records.records.filter((r) => r.topic === named.groupState && r.key === group!.id);
      return got.length >= events.filter((e) => e.subjectId === group!.id).length && got;
    });

    for (const r of eventTopicRecords) {
      const served = events.find((e) => e.id === r.headers.ce_id)!;
      const json = JSON.parse(r.value!.toString("utf8")) as Record<string, JsonValue>;
      expect(r.headers).toMatchObject({ ce_specversion: "1.0", ce_id: served.id, ce_type: `io.roster.${served.type}`, ce_source: `/directories/${dir}` });
      if (r.topic === named.users) {
        // Binary mode: the value is the event itself.
        expect(r.headers["content-type"]).toBe("application/json");
        expect(equals(EventSchema, fromJson(EventSchema, json), served)).toBe(true);
      } else {
        // Structured mode: the value is the CloudEvent, the event its data.
        expect(r.headers["content-type"]).toBe("application/cloudevents+json");
        expect(json).toMatchObject({ specversion: "1.0", id: served.id, type: `io.roster.${served.type}`, source: `/directories/${dir}`, datacontenttype: "application/json" });
        expect(json.subject).toBe(r.headers.ce_subject);
        expect(json.time).toBe(r.headers.ce_time);
        expect(equals(EventSchema, fromJson(EventSchema, json.data!), served)).toBe(true);
      }
    }
    const [created, ...rest] = userStateRecords;
    expect(created!.headers["content-type"]).toBe("application/cloudevents+json");
    const structured = JSON.parse(created!.value!.toString("utf8")) as { type: string; data: JsonValue };
    expect(structured.type).toBe("io.roster.user.state");
    const state = fromJson(SubjectStateSchema, structured.data);
    expect(state.state.case === "user" && state.state.value.user?.userName).toBe("json@example.com");
    // The delete ends in a tombstone: no value, no content-type, the sequence in its header.
    const tombstone = rest.at(-1)!;
    expect(tombstone.value).toBeNull();
    expect(tombstone.headers["content-type"]).toBeUndefined();
    expect(tombstone.headers[STATE_SEQUENCE_HEADER]).toBe(events.filter((e) => e.subjectId === user!.id).at(-1)!.sequence.toString());
    const lastGroup = groupStateRecords.at(-1)!;
    expect(lastGroup.headers["content-type"]).toBe("application/json");
    const groupState = fromJson(SubjectStateSchema, JSON.parse(lastGroup.value!.toString("utf8")) as JsonValue);
    expect(groupState.state.case === "group" && groupState.state.value.memberCount).toBe(0n);
  });
});

describe("state topic configuration", () => {
  it("refuses a state topic that is also an event topic, a bad topic name or an unknown format", () => {
    expect(() => loadConfig({ ROSTER_USER_STATE_TOPIC: "roster.lifecycle.users.v1" })).toThrow(ConfigError);
    // Kafka takes "." and "_" as one: these would collide on the broker.
    expect(() => loadConfig({ ROSTER_USER_STATE_TOPIC: "roster_lifecycle_users_v1" })).toThrow(ConfigError);
    expect(() => loadConfig({ ROSTER_GROUP_STATE_TOPIC: "bad topic/name" })).toThrow(ConfigError);
    expect(() => loadConfig({ ROSTER_USER_STATE_TOPIC: "x".repeat(250) })).toThrow(ConfigError);
    expect(() => loadConfig({ ROSTER_USER_TOPIC_FORMAT: "avro" })).toThrow(/protobuf, json, cloudevents-json/);
    const config = loadConfig({});
    expect(config.kafka.userStateTopic).toBe("roster.directory.users.state.v1");
    expect(config.kafka.groupStateTopic).toBe("roster.directory.groups.state.v1");
    expect(Object.values(config.kafka.formats)).toEqual(["protobuf", "protobuf", "protobuf", "protobuf"]);
  });
});
