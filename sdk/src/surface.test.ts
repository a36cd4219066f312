// The root exports a consumer uses, against a real Roster (real HTTP, real Postgres):
// pagination iterators over every list RPC, Date options, canonicalOf, bigint-safe JSON,
// and subscribe's connection hooks through a graceful server restart.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestRoster, type TestRoster } from "../../services/testing/roster.ts";
import { uniqueName } from "../../services/testing/kafka.ts";
import {
  canonicalOf,
  Code,
  ConnectError,
  createRosterClients,
  listDirectories,
  listEvents,
  listGroupMembers,
  listGroups,
  listScimAuditRecords,
  listUserGroups,
  listUsers,
  ProviderKind,
  subscribe,
  toJsonString,
  toJsonValue,
  userOf,
  type Event,
  type ReconnectInfo,
  type RosterClients,
} from "./index.ts";
import { freePort } from "../../services/testing/ports.ts";

let t: TestRoster;
let sdk: RosterClients;
let directoryId: string;
const USERS = 230;

beforeAll(async () => {
  // The relay without a broker: it publishes the outbox to EventService only.
  t = await startTestRoster({ ROSTER_PORT: String(await freePort()), ROSTER_HOST: "127.0.0.1", ROSTER_ROLES: "core,scim,relay", KAFKA_BROKERS: "", ROSTER_RELAY_POLL_MS: "50", ROSTER_STREAM_POLL_MS: "100" });
  sdk = createRosterClients({ baseUrl: t.url, apiKey: t.adminKey });
  directoryId = (await sdk.directory.createDirectory({ name: uniqueName("surface"), provider: ProviderKind.OKTA })).directory!.id;
  for (let i = 0; i < USERS; i += 10) {
    await Promise.all(
      Array.from({ length: 10 }, (_, j) =>
        sdk.directory.createUser({ directoryId, resource: { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: `u${i + j}@example.com`, active: true, title: "Engineer" } }),
      ),
    );
  }
}, 120_000);

afterAll(async () => {
  await t?.stop();
});

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

describe("pagination iterators", () => {
  it("walk every page of users, groups, members, user groups, directories, events and audit records", async () => {
    const users = await collect(listUsers(sdk.directory, { directoryId, options: { pageSize: 50 } }));
    expect(users).toHaveLength(USERS);
    expect(new Set(users.map((u) => u.id)).size).toBe(USERS);

    const { group } = await sdk.directory.createGroup({ directoryId, resource: { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: "all" } });
    await sdk.directory.addGroupMembers({ directoryId, groupId: group!.id, userIds: users.map((u) => u.id) });
    for (let i = 0; i < 3; i++) await sdk.directory.createGroup({ directoryId, resource: { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: `g${i}` } });

    expect(await collect(listGroups(sdk.directory, { directoryId, options: { pageSize: 2 } }))).toHaveLength(4);
    const members = await collect(listGroupMembers(sdk.directory, { directoryId, groupId: group!.id, pageSize: 100 }));
    expect(members.map((m) => m.userId).sort()).toEqual(users.map((u) => u.id).sort());
    expect((await collect(listUserGroups(sdk.directory, { directoryId, userId: users[0]!.id, pageSize: 1 }))).map((g) => g.id)).toEqual([group!.id]);
    expect((await collect(listDirectories(sdk.directory, { pageSize: 1 }))).map((d) => d.id)).toContain(directoryId);

    // Breaking out stops fetching.
    let taken = 0;
    for await (const _ of listUsers(sdk.directory, { directoryId, options: { pageSize: 10 } })) if (++taken === 15) break;
    expect(taken).toBe(15);

    // Published by the relay shortly after each write.
    await expect.poll(async () => (await collect(listEvents(sdk.events, { directoryId, pageSize: 100 }))).filter((e) => e.type === "user.created").length, { timeout: 30_000 }).toBe(USERS);
    const events = await collect(listEvents(sdk.events, { directoryId, pageSize: 100 }));
    expect(events.map((e) => e.position)).toEqual([...events.map((e) => e.position)].sort((a, b) => (a < b ? -1 : 1)));

    // A Date where the contract takes a Timestamp: nothing is newer than the future.
    expect(await collect(listEvents(sdk.events, { directoryId, startTime: new Date(Date.now() + 3_600_000) }))).toEqual([]);
    expect((await collect(listEvents(sdk.events, { directoryId, startTime: new Date(0), pageSize: 1000 }))).length).toBe(events.length);

    await sdk.directory.appendScimAuditRecords({
      records: Array.from({ length: 5 }, (_, i) => ({ id: randomUUID(), directoryId, requestId: `r${i}`, method: "GET", path: "/Users", status: 200, time: { seconds: BigInt(Math.floor(Date.now() / 1000)), nanos: 0 } })),
    });
    const audit = await collect(listScimAuditRecords(sdk.directory, { directoryId, pageSize: 2, startTime: new Date(Date.now() - 60_000) }));
    expect(audit.map((r) => r.requestId).sort()).toEqual(["r0", "r1", "r2", "r3", "r4"]);
  });

  it("refuses an invalid Date instead of sending no start time", async () => {
    await expect(collect(listEvents(sdk.events, { directoryId, startTime: new Date("nonsense") }))).rejects.toThrow(RangeError);
  });
});

describe("event helpers", () => {
  it("canonicalOf gives the mapped user; toJsonString logs messages and bigints", async () => {
    let event: Event | undefined;
    for await (const e of listEvents(sdk.events, { directoryId, pageSize: 1 })) {
      event = e;
      break;
    }
    if (event === undefined) throw new Error("no event published");
    const canonical = canonicalOf(event);
    expect(canonical).toBeDefined();
    // The two forms of one user: User (as stored) and CanonicalUser (as mapped).
    expect(canonical!.username).toBe(userOf(event)!.userName);
    expect(canonical!.jobTitle).toBe(userOf(event)!.title);
    expect(() => JSON.stringify(event)).toThrow(TypeError);
    const json = toJsonValue({ event, n: 2n ** 64n }) as { event: { sequence: string; time: string; subjectId: string }; n: string };
    expect(json.n).toBe("18446744073709551616");
    expect(json.event.sequence).toBe("1");
    expect(json.event.subjectId).toBe(event.subjectId);
    expect(json.event.time).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(JSON.parse(toJsonString(event)).id).toBe(event.id);
  });

  it("errors are ConnectErrors with a Code, from the root", async () => {
    const error = await sdk.directory.getUser({ directoryId, id: "0197a3b0-0000-7000-8000-000000000000" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.NotFound);
  });
});

describe("subscribe's connection hooks", () => {
  it("says once when it has delivered everything published so far, then delivers live events", async () => {
    // Everything written so far is published (the relay may still be at it when the file starts).
    await expect.poll(async () => (await collect(listEvents(sdk.events, { directoryId, pageSize: 1000 }))).filter((e) => e.type === "user.created").length, { timeout: 30_000 }).toBeGreaterThanOrEqual(USERS);
    const published = (await collect(listEvents(sdk.events, { directoryId, pageSize: 1000 }))).length;
    const controller = new AbortController();
    const received: string[] = [];
    const caughtUp: Array<{ at: number; reconnected: boolean; cursor: string | undefined }> = [];
    const running = (async () => {
      for await (const { event } of subscribe(sdk.events, {
        directoryId,
        signal: controller.signal,
        onCaughtUp: (c) => caughtUp.push({ at: received.length, reconnected: c.reconnected, cursor: c.cursor }),
      })) {
        received.push(event.id);
      }
    })();
    await expect.poll(() => caughtUp.length, { timeout: 30_000 }).toBe(1);
    // Not before the backlog was delivered, and not after waiting for a live event.
    expect(caughtUp[0]!.at).toBe(published);
    expect(caughtUp[0]!.reconnected).toBe(false);
    expect(caughtUp[0]!.cursor).toBeTruthy();
    await sdk.directory.createUser({ directoryId, resource: { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: "live@example.com", active: true } });
    await expect.poll(() => received.length, { timeout: 30_000 }).toBe(published + 1);
    expect(caughtUp).toHaveLength(1);
    controller.abort();
    await running;
  }, 90_000);

  it("reports a graceful server restart as a planned reconnect, and says when it is connected again", async () => {
    const connected: boolean[] = [];
    const reconnects: ReconnectInfo[] = [];
    const controller = new AbortController();
    const received: string[] = [];
    const running = (async () => {
      for await (const { event } of subscribe(sdk.events, {
        directoryId,
        signal: controller.signal,
        backoff: { initialMs: 50, maxMs: 300 },
        onConnected: (c) => connected.push(c.reconnected),
        onReconnect: (r) => reconnects.push(r),
      })) {
        received.push(event.subjectId);
      }
    })();
    // Everything published so far, not just the users' events: what arrives after the
    // restart must be the new event alone.
    const published = (await collect(listEvents(sdk.events, { directoryId, pageSize: 1000 }))).length;
    await expect.poll(() => received.length, { timeout: 60_000 }).toBe(published);
    expect(connected).toEqual([false]);
    await t.stopServer();
    await t.restart();
    // Waits for this user's event, not for a count: what the stream had not delivered before
    // the restart (the relay publishes as it goes) arrives after it too.
    const { user } = await sdk.directory.createUser({ directoryId, resource: { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: "after-restart@example.com", active: true } });
    await expect.poll(() => received.includes(user!.id), { timeout: 60_000 }).toBe(true);
    // The event after the restart came over a new connection, which the hook announced.
    expect(connected).toContain(true);
    expect(connected[0]).toBe(false);
    expect(reconnects.length).toBeGreaterThanOrEqual(1);
    expect(reconnects[0]!.planned).toBe(true);
    controller.abort();
    await running;
  }, 150_000);
});
