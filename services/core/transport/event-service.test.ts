// EventService never resumes past events silently: a cursor beyond the newest position, a
// cursor (or start_time, or after_sequence) older than the replay window, and an unknown
// event type in a filter are refused; the SDK's subscribe turns the first two into
// ResyncRequiredError. Real server, real Postgres, the relay on the real broker.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { Code, ConnectError, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ProviderKind } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { CursorExpiredDetailSchema, EventService, type Event } from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { createRosterClients, EVENT_TYPES, ResyncRequiredError, subscribe, type RosterClients } from "../../../sdk/src/index.ts";
import { startTestRoster, type TestRoster } from "../../testing/roster.ts";
import { uniqueName } from "../../testing/kafka.ts";
import { failureOf } from "../../testing/connect.ts";
import { EVENT_TYPES as DOMAIN_EVENT_TYPES } from "../domain/events.ts";
import { encodeCursor } from "./event-service.ts";

let t: TestRoster;
let sdk: RosterClients;
let pool: pg.Pool;

beforeAll(async () => {
  t = await startTestRoster({
    ROSTER_ROLES: "core,scim,relay",
    ROSTER_USER_TOPIC: uniqueName("roster-events-users"),
    ROSTER_GROUP_TOPIC: uniqueName("roster-events-groups"),
    ROSTER_RELAY_POLL_MS: "20",
    ROSTER_STREAM_POLL_MS: "50",
    // One hour: the test ages rows past it by hand, then runs the relay's cleanup.
    ROSTER_EVENT_RETENTION_MS: "3600000",
  });
  sdk = createRosterClients({ baseUrl: t.url, apiKey: t.adminKey });
  pool = new pg.Pool({ connectionString: t.database.url, max: 2 });
});

afterAll(async () => {
  await pool?.end();
  await t?.stop();
});

async function newDirectory(): Promise<string> {
  const { directory } = await sdk.directory.createDirectory({ name: uniqueName("events"), provider: ProviderKind.OKTA });
  return directory!.id;
}

async function createUser(directoryId: string, name: string): Promise<string> {
  const { user } = await sdk.directory.createUser({ directoryId, resource: { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: `${name}@example.com` } });
  return user!.id;
}

/** Waits until every event of the directory is published, then returns them (ListEvents from the start). */
async function published(directoryId: string): Promise<Event[]> {
  await expect
    .poll(async () => (await pool.query("SELECT 1 FROM outbox_pending WHERE directory_id = $1", [directoryId])).rowCount, { timeout: 20_000 })
    .toBe(0);
  const page = await sdk.events.listEvents({ directoryId, pageSize: 1000 });
  return page.events;
}

/** Ages the directory's events up to a position past the replay window and runs the relay's cleanup. */
async function expireThrough(position: bigint): Promise<void> {
  await pool.query("UPDATE event_positions SET published_at = now() - interval '2 hours' WHERE position <= $1", [position.toString()]);
  await t.roster.relay!.relay.cleanup();
}

async function firstOf<T>(iterable: AsyncIterable<T>): Promise<T> {
  for await (const item of iterable) return item;
  throw new Error("ended without an item");
}

async function streamFailure(directoryId: string, request: { cursor?: string; startTime?: ReturnType<typeof timestampFromDate>; types?: string[] }) {
  const call = sdk.events.streamEvents({ directoryId, cursor: request.cursor ?? "", startTime: request.startTime, filter: { types: request.types ?? [], subjectId: "" } }, { timeoutMs: 5_000 });
  return failureOf(firstOf(call));
}

function expiredDetail(error: unknown) {
  const e = ConnectError.from(error);
  expect(e.code).toBe(Code.FailedPrecondition);
  return e.findDetails(CursorExpiredDetailSchema)[0];
}

describe("cursors beyond the head", () => {
  it("refuses a well-formed cursor ahead of every position (out_of_range), in ListEvents, StreamEvents and subscribe", async () => {
    const directoryId = await newDirectory();
    await createUser(directoryId, "ahead");
    const events = await published(directoryId);
    const ahead = encodeCursor(events.at(-1)!.position + 50n);

    expect(await failureOf(sdk.events.listEvents({ directoryId, cursor: ahead }))).toMatchObject({ code: Code.OutOfRange });
    expect(await streamFailure(directoryId, { cursor: ahead })).toMatchObject({ code: Code.OutOfRange });
    const error = await firstOf(subscribe(sdk.events, { directoryId, cursor: ahead })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ResyncRequiredError);
    expect(error).toMatchObject({ reason: "ahead", cursor: ahead, oldestCursor: undefined });

    // The head itself is a valid cursor: the next event is delivered.
    const head = (await sdk.events.listEvents({ directoryId })).nextCursor;
    const user = await createUser(directoryId, "next");
    const next = await firstOf(subscribe(sdk.events, { directoryId, cursor: head }));
    expect(next.event.subjectId).toBe(user);
  });

  it("refuses an after_sequence beyond the subject's last published event", async () => {
    const directoryId = await newDirectory();
    const user = await createUser(directoryId, "seq");
    await published(directoryId);
    expect((await sdk.events.listSubjectEvents({ directoryId, subjectId: user, afterSequence: 1n })).events).toEqual([]);
    expect(await failureOf(sdk.events.listSubjectEvents({ directoryId, subjectId: user, afterSequence: 51n }))).toMatchObject({ code: Code.OutOfRange });
  });
});

describe("cursors older than the replay window", () => {
  it("answers failed_precondition with the oldest cursor, and subscribe throws ResyncRequiredError", async () => {
    const directoryId = await newDirectory();
    const users = [await createUser(directoryId, "a"), await createUser(directoryId, "b"), await createUser(directoryId, "c")];
    await sdk.directory.deactivateUser({ directoryId, id: users[0]! });
    const before = await published(directoryId);
    expect(before).toHaveLength(4);
    const [first, second] = before;
    const startedAt = timestampFromDate(new Date(Date.now() - 60_000));
    await expireThrough(second!.position);
    const oldest = encodeCursor(second!.position);

    // A real cursor whose next events were deleted: refused, the oldest kept cursor in the details.
    const cursor = encodeCursor(first!.position);
    const listed = await sdk.events.listEvents({ directoryId, cursor }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(expiredDetail(listed)?.oldestCursor).toBe(oldest);
    expect(ConnectError.from(listed).rawMessage).toContain("replay window");
    expect(await streamFailure(directoryId, { cursor })).toMatchObject({ code: Code.FailedPrecondition });

    const error = await firstOf(subscribe(sdk.events, { directoryId, cursor })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ResyncRequiredError);
    expect(error).toMatchObject({ reason: "expired", cursor, oldestCursor: oldest });

    // A start_time before the deleted events is refused too; one after them is served.
    expect(await failureOf(sdk.events.listEvents({ directoryId, startTime: startedAt }))).toMatchObject({ code: Code.FailedPrecondition });
    expect(await streamFailure(directoryId, { startTime: startedAt })).toMatchObject({ code: Code.FailedPrecondition });
    const later = await sdk.events.listEvents({ directoryId, startTime: timestampFromDate(new Date(Date.now() + 60_000)) });
    expect(later.events).toEqual([]);

    // From the oldest cursor, and from the start, the kept events are served.
    const rest = before.slice(2).map((e) => e.id);
    expect((await sdk.events.listEvents({ directoryId, cursor: oldest })).events.map((e) => e.id)).toEqual(rest);
    const fromStart = await sdk.events.listEvents({ directoryId });
    expect(fromStart.events.map((e) => e.id)).toEqual(rest);
    expect((await sdk.events.listEvents({ directoryId, cursor: fromStart.nextCursor })).events).toEqual([]);
    const resumed = await firstOf(subscribe(sdk.events, { directoryId, cursor: oldest }));
    expect(resumed.event.id).toBe(rest[0]);

    // ListSubjectEvents: user a's created event is gone; its deactivation is kept.
    const subject = await sdk.events.listSubjectEvents({ directoryId, subjectId: users[0]!, afterSequence: 0n }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(expiredDetail(subject)?.oldestAfterSequence).toBe(1n);
    const kept = await sdk.events.listSubjectEvents({ directoryId, subjectId: users[0]!, afterSequence: 1n });
    expect(kept.events.map((e) => e.type)).toEqual(["user.deactivated"]);
    // User b has nothing left: not an empty answer, a refusal.
    const b = await sdk.events.listSubjectEvents({ directoryId, subjectId: users[1]!, afterSequence: 0n }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(expiredDetail(b)?.oldestAfterSequence).toBe(1n);
  });

  it("a quiet directory's cursor stays valid when its old events are deleted (nothing after it was lost)", async () => {
    const directoryId = await newDirectory();
    await createUser(directoryId, "quiet");
    const events = await published(directoryId);
    const saved = (await sdk.events.listEvents({ directoryId })).nextCursor;
    await expireThrough(events.at(-1)!.position);
    expect((await sdk.events.listEvents({ directoryId, cursor: saved })).events).toEqual([]);
    // A poller from the start of a directory with nothing kept goes on polling without error.
    const fromStart = await sdk.events.listEvents({ directoryId });
    expect(fromStart.events).toEqual([]);
    expect((await sdk.events.listEvents({ directoryId, cursor: fromStart.nextCursor })).events).toEqual([]);
    const user = await createUser(directoryId, "again");
    const next = await firstOf(subscribe(sdk.events, { directoryId, cursor: saved }));
    expect(next.event.subjectId).toBe(user);
  });
});

describe("type filters", () => {
  it("refuses unknown types (a misspelling, the payload case spelling) instead of skipping to the head", async () => {
    const directoryId = await newDirectory();
    const user = await createUser(directoryId, "typed");
    await sdk.directory.deactivateUser({ directoryId, id: user });
    await published(directoryId);
    for (const types of [["user.deactivate"], ["userDeactivated"], ["user.deactivated", "x".repeat(10_000)]]) {
      const listed = await failureOf(sdk.events.listEvents({ directoryId, filter: { types, subjectId: "" } }));
      expect(listed.code).toBe(Code.InvalidArgument);
      expect(listed.message).toContain("user.deactivated, user.reactivated");
      expect(listed.message.length).toBeLessThan(500);
      expect(await streamFailure(directoryId, { types })).toMatchObject({ code: Code.InvalidArgument });
    }
    const page = await sdk.events.listEvents({ directoryId, filter: { types: ["user.deactivated"], subjectId: "" } });
    expect(page.events.map((e) => e.type)).toEqual(["user.deactivated"]);
  });

  it("the service and the SDK know the same event types", () => {
    expect([...DOMAIN_EVENT_TYPES].sort()).toEqual(Object.values(EVENT_TYPES).sort());
  });
});

describe("streamed events", () => {
  const auth: Interceptor = (next) => (req) => {
    req.header.set("authorization", `Bearer ${t.adminKey}`);
    return next(req);
  };
  // Binary clients get each event as the bytes the outbox stored; JSON clients the decoded message.
  const transports: Array<[string, () => Transport]> = [
    ["Connect, binary", () => createConnectTransport({ baseUrl: t.url, httpVersion: "1.1", interceptors: [auth] })],
    ["Connect, JSON", () => createConnectTransport({ baseUrl: t.url, httpVersion: "1.1", useBinaryFormat: false, interceptors: [auth] })],
    ["gRPC", () => createGrpcTransport({ baseUrl: t.url, interceptors: [auth] })],
  ];

  it.each(transports)("over %s are the events ListEvents serves, with their positions", async (_name, transport) => {
    const directoryId = await newDirectory();
    const user = await createUser(directoryId, "streamed");
    await sdk.directory.deactivateUser({ directoryId, id: user });
    const listed = await published(directoryId);
    expect(listed.map((e) => e.type)).toEqual(["user.created", "user.deactivated"]);
    const client = createClient(EventService, transport());
    const streamed: Event[] = [];
    for await (const r of client.streamEvents({ directoryId }, { timeoutMs: 10_000 })) {
      streamed.push(r.event!);
      expect(r.cursor).toBe(encodeCursor(r.event!.position));
      if (streamed.length === listed.length) break;
    }
    expect(streamed).toEqual(listed);
    expect(streamed.every((e) => e.position > 0n && e.payload.case !== undefined)).toBe(true);
  });
});
