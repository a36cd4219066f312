// The SDK against the real thing: a Roster with its relay (real Postgres, real Kafka), users
// and groups changed over DirectoryService, read back through subscribe() across a server
// restart, through the Kafka consumer wrapper from the relay's topics, and by the examples.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kafka, logLevel } from "kafkajs";
import { startTestRoster, type TestRoster } from "../../services/testing/roster.ts";
import { testKafkaBrokers, uniqueName } from "../../services/testing/kafka.ts";
import { ProviderKind, UserState, type User } from "./gen/roster/directory/v1/directory_pb.js";
import type { Event } from "./gen/roster/events/v1/events_pb.js";
import { createRosterClients, type RosterClients } from "./client.ts";
import { subscribe } from "./subscribe.ts";
import { createLifecycleConsumer } from "./kafka.ts";
import { isEvent } from "./events.ts";
import { runRevocationWorker } from "../examples/revocation-worker.ts";
import type { CursorStore } from "./cursor-store.ts";
import { DirectoryMirror, runReadModel } from "../examples/read-model.ts";
import { freePort } from "../../services/testing/ports.ts";

let t: TestRoster;
let sdk: RosterClients;
const userTopic = uniqueName("roster-sdk-users");
const groupTopic = uniqueName("roster-sdk-groups");

beforeAll(async () => {
  t = await startTestRoster({
    // A fixed port, so the restarted server is where the subscription reconnects.
    ROSTER_PORT: String(await freePort()),
    ROSTER_HOST: "127.0.0.1",
    ROSTER_ROLES: "core,scim,relay",
    ROSTER_USER_TOPIC: userTopic,
    ROSTER_GROUP_TOPIC: groupTopic,
    KAFKA_TOPIC_PARTITIONS: "3",
    ROSTER_RELAY_POLL_MS: "50",
    ROSTER_STREAM_POLL_MS: "100",
  });
  sdk = createRosterClients({ baseUrl: t.url, apiKey: t.adminKey });
});

afterAll(async () => {
  await t?.stop();
});

const scimUser = (userName: string) => ({ schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName, active: true, name: { givenName: "Ada", familyName: "Lovelace" } });

async function newDirectory(): Promise<string> {
  const { directory } = await sdk.directory.createDirectory({ name: uniqueName("sdk"), provider: ProviderKind.OKTA });
  return directory!.id;
}

async function createUser(directoryId: string, name: string): Promise<User> {
  return (await sdk.directory.createUser({ directoryId, resource: scimUser(`${name}@example.com`) })).user!;
}

/** Every event of the directory, from ListEvents: the reference. */
async function allEvents(directoryId: string): Promise<Event[]> {
  const out: Event[] = [];
  let cursor = "";
  for (;;) {
    const page = await sdk.events.listEvents({ directoryId, cursor, pageSize: 500 });
    out.push(...page.events);
    if (page.events.length === 0) return out;
    cursor = page.nextCursor;
  }
}

/** ListEvents serves published events only: waits until the relay published the last write. */
async function publishedThrough(directoryId: string, subjectId: string, type: string): Promise<Event[]> {
  let events: Event[] = [];
  await expect
    .poll(
      async () => {
        events = await allEvents(directoryId);
        return events.some((e) => e.subjectId === subjectId && e.type === type);
      },
      { timeout: 20_000 },
    )
    .toBe(true);
  return events;
}

function assertContiguous(events: Event[]): void {
  const last = new Map<string, bigint>();
  for (const e of events) {
    const before = last.get(e.subjectId);
    if (before !== undefined) expect(e.sequence, `${e.subjectId} after ${before}`).toBe(before + 1n);
    last.set(e.subjectId, e.sequence);
  }
}

describe("subscribe against Roster", () => {
  it("receives every event once, in order, across a server restart", async () => {
    const directoryId = await newDirectory();
    const received: Event[] = [];
    const cursors: string[] = [];
    const reconnects: unknown[] = [];
    const controller = new AbortController();
    const running = (async () => {
      for await (const { event, cursor } of subscribe(sdk.events, {
        directoryId,
        signal: controller.signal,
        backoff: { initialMs: 50, maxMs: 300 },
        onReconnect: (r) => reconnects.push(r.error),
      })) {
        received.push(event);
        cursors.push(cursor);
      }
    })();

    const ada = await createUser(directoryId, "ada");
    const grace = await createUser(directoryId, "grace");
    const { group } = await sdk.directory.createGroup({ directoryId, resource: { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: "eng" } });
    await sdk.directory.addGroupMembers({ directoryId, groupId: group!.id, userIds: [ada.id, grace.id] });
    await sdk.directory.deactivateUser({ directoryId, id: ada.id });
    const before = (await publishedThrough(directoryId, ada.id, "user.deactivated")).length;
    await expect.poll(() => received.length, { timeout: 20_000 }).toBe(before);

    // The server goes away (its open streams end), and comes back on the same port.
    await t.stopServer();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await t.restart();
    await sdk.directory.deleteUser({ directoryId, id: ada.id });
    const linus = await createUser(directoryId, "linus");
    await sdk.directory.deactivateUser({ directoryId, id: grace.id });

    const reference = await publishedThrough(directoryId, grace.id, "user.deactivated");
    await expect.poll(() => received.length, { timeout: 20_000 }).toBe(reference.length);
    controller.abort();
    await running;

    expect(reconnects.length).toBeGreaterThanOrEqual(1);
    expect(received.map((e) => e.id)).toEqual(reference.map((e) => e.id));
    expect(new Set(received.map((e) => e.id)).size).toBe(received.length);
    assertContiguous(received);
    expect(received.filter((e) => e.subjectId === ada.id).map((e) => e.type)).toEqual([
      "user.created",
      "user.added_to_group",
      "user.deactivated",
      // Deleting a user takes them out of their groups first.
      "user.removed_from_group",
      "user.deleted",
    ]);
    expect(received.some((e) => e.subjectId === linus.id && e.type === "user.created")).toBe(true);

    // A new subscription from a saved cursor starts right after it.
    const middle = Math.floor(cursors.length / 2);
    const resumed: Event[] = [];
    for await (const { event } of subscribe(sdk.events, { directoryId, cursor: cursors[middle - 1] })) {
      resumed.push(event);
      if (resumed.length === received.length - middle) break;
    }
    expect(resumed.map((e) => e.id)).toEqual(received.slice(middle).map((e) => e.id));
  });

  it("works over gRPC and gRPC-web too", async () => {
    const directoryId = await newDirectory();
    const user = await createUser(directoryId, "hopper");
    for (const transport of ["grpc", "grpc-web"] as const) {
      const clients = createRosterClients({ baseUrl: t.url, apiKey: t.adminKey, transport });
      for await (const { event } of subscribe(clients.events, { directoryId })) {
        expect(event.subjectId).toBe(user.id);
        expect(isEvent(event, "userCreated") && event.payload.value.user?.userName).toBe("hopper@example.com");
        break;
      }
    }
  });

  it("reads the relay's Kafka topics with the consumer wrapper", async () => {
    const directoryId = await newDirectory();
    const u = await createUser(directoryId, "kafka");
    await sdk.directory.deactivateUser({ directoryId, id: u.id });
    await sdk.directory.deleteUser({ directoryId, id: u.id });
    const reference = (await publishedThrough(directoryId, u.id, "user.deleted")).filter((e) => e.subjectId === u.id);
    const seen: Event[] = [];
    const consumer = createLifecycleConsumer(new Kafka({ clientId: "roster-sdk-test", brokers: testKafkaBrokers(), logLevel: logLevel.NOTHING }), {
      groupId: uniqueName("roster-sdk-relay"),
      topics: [userTopic, groupTopic],
      onEvent: (event) => {
        if (event.directoryId === directoryId) seen.push(event);
      },
    });
    await consumer.start();
    try {
      await expect.poll(() => seen.length, { timeout: 20_000 }).toBeGreaterThanOrEqual(reference.length);
    } finally {
      await consumer.stop();
    }
    await expect(consumer.stopped).resolves.toBeUndefined();
    expect(seen.map((e) => e.id)).toEqual(reference.map((e) => e.id));
  });
});

describe("examples", () => {
  it("the revocation worker revokes deactivated and deleted users, once each, resuming from its cursor", async () => {
    const directoryId = await newDirectory();
    const [a, b, c] = [await createUser(directoryId, "a"), await createUser(directoryId, "b"), await createUser(directoryId, "c")];
    await sdk.directory.deactivateUser({ directoryId, id: a.id });
    await sdk.directory.deleteUser({ directoryId, id: b.id });

    let saved: string | undefined;
    const cursors: CursorStore = { load: async () => saved, save: async (cursor) => void (saved = cursor) };
    const revoked: string[] = [];
    const run = () => {
      const controller = new AbortController();
      const done = runRevocationWorker({
        events: sdk.events,
        directoryId,
        cursors,
        signal: controller.signal,
        revoker: { revoke: async (user, reason) => void revoked.push(`${user.userName}:${reason}`) },
      });
      return { stop: async () => (controller.abort(), await done) };
    };

    const first = run();
    await expect.poll(() => revoked.length, { timeout: 20_000 }).toBe(2);
    await first.stop();
    expect(revoked).toEqual(["a@example.com:deactivated", "b@example.com:deleted"]);

    await sdk.directory.deactivateUser({ directoryId, id: c.id });
    const second = run();
    await expect.poll(() => revoked.length, { timeout: 20_000 }).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await second.stop();
    expect(revoked).toEqual(["a@example.com:deactivated", "b@example.com:deleted", "c@example.com:deactivated"]);
  });

  it("the read model mirrors users and groups", async () => {
    const directoryId = await newDirectory();
    const a = await createUser(directoryId, "mirror-a");
    const b = await createUser(directoryId, "mirror-b");
    const { group } = await sdk.directory.createGroup({ directoryId, resource: { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: "ops" } });
    await sdk.directory.addGroupMembers({ directoryId, groupId: group!.id, userIds: [a.id, b.id] });
    await sdk.directory.deactivateUser({ directoryId, id: a.id });
    await sdk.directory.removeGroupMembers({ directoryId, groupId: group!.id, userIds: [b.id] });
    const expectedEvents = (await publishedThrough(directoryId, group!.id, "group.members_removed")).length;

    const controller = new AbortController();
    const mirror = new DirectoryMirror();
    let applied = 0;
    const running = runReadModel({ events: sdk.events, directoryId, mirror, signal: controller.signal, onChange: () => void applied++ });
    await expect.poll(() => applied, { timeout: 20_000 }).toBe(expectedEvents);
    controller.abort();
    await running;

    const users = (await sdk.directory.listUsers({ directoryId })).users;
    expect([...mirror.users.keys()].sort()).toEqual(users.map((u) => u.id).sort());
    expect(mirror.users.get(a.id)?.state).toBe(UserState.INACTIVE);
    expect(mirror.activeUsers().map((u) => u.id)).toEqual([b.id]);
    expect(mirror.groups.get(group!.id)?.displayName).toBe("ops");
    expect([...(mirror.members.get(group!.id) ?? [])]).toEqual([a.id]);
    expect(mirror.cursor).toBeTruthy();
  });
});
