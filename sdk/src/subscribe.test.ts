// subscribe() against an EventService over real HTTP: the fake one (faults on demand) for
// reconnects, duplicates and gaps.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { createRosterClients, type RosterClients } from "./client.ts";
import { subscribe, type DeliveredEvent } from "./subscribe.ts";
import { SequenceGapError } from "./ordering.ts";
import type { EventType } from "./events.ts";
import { startFakeEventService, userEvent, type FakeEventService } from "./testing/fake-event-service.ts";

const DIR = "dir-1";
const fast = { initialMs: 10, maxMs: 50 };
let fake: FakeEventService;
let clients: RosterClients;

beforeEach(async () => {
  fake = await startFakeEventService();
  clients = createRosterClients({ baseUrl: fake.url, apiKey: fake.apiKey });
});

afterEach(async () => {
  await fake.close();
});

/** Takes `count` deliveries, running `between` after each one. */
async function take(iterator: AsyncIterable<DeliveredEvent>, count: number, between?: (n: number, d: DeliveredEvent) => void): Promise<DeliveredEvent[]> {
  const out: DeliveredEvent[] = [];
  if (count === 0) return out;
  for await (const d of iterator) {
    out.push(d);
    between?.(out.length, d);
    if (out.length === count) break;
  }
  return out;
}

describe("subscribe", () => {
  it("replays then follows live, with a cursor per event", async () => {
    fake.append(userEvent(DIR, "u1", 1, "userCreated"), userEvent(DIR, "u2", 1, "userCreated"), userEvent("other", "x", 1));
    const got = await take(subscribe(clients.events, { directoryId: DIR, backoff: fast }), 3, (n) => {
      if (n === 2) fake.append(userEvent(DIR, "u1", 2, "userDeactivated"));
    });
    expect(got.map((d) => [d.event.subjectId, d.event.sequence])).toEqual([
      ["u1", 1n],
      ["u2", 1n],
      ["u1", 2n],
    ]);
    expect(got.map((d) => d.cursor)).toEqual(["1", "2", "4"]);
  });

  it("reconnects after a dropped connection and resumes after the last delivered cursor", async () => {
    for (let i = 1; i <= 5; i++) fake.append(userEvent(DIR, "u1", i));
    const reconnects: Array<string | undefined> = [];
    const got = await take(
      subscribe(clients.events, { directoryId: DIR, backoff: fast, onReconnect: (r) => reconnects.push(r.cursor) }),
      8,
      (n) => {
        if (n === 3) fake.dropConnections();
        if (n === 5) {
          fake.append(userEvent(DIR, "u1", 6), userEvent(DIR, "u1", 7), userEvent(DIR, "u1", 8));
          fake.dropConnections();
        }
      },
    );
    expect(got.map((d) => d.event.sequence)).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n]);
    // Events already buffered when the connection dropped are still delivered, so a drop
    // may cost one reconnect or two; each asked for what came after the last event handed over.
    expect(reconnects.length).toBeGreaterThanOrEqual(1);
    expect(fake.streamCursors[0]).toBe("");
    expect(fake.streamCursors.slice(1)).toEqual(reconnects);
    for (const cursor of reconnects) expect(got.map((d) => d.cursor)).toContain(cursor);
  });

  it("drops events the server sends again (by id), e.g. a replay that ignores the cursor", async () => {
    for (let i = 1; i <= 3; i++) fake.append(userEvent(DIR, "u1", i));
    fake.ignoreCursor = true;
    const got = await take(subscribe(clients.events, { directoryId: DIR, backoff: fast }), 4, (n) => {
      if (n === 2) fake.dropConnections();
      if (n === 3) fake.append(userEvent(DIR, "u1", 4));
    });
    expect(got.map((d) => d.event.sequence)).toEqual([1n, 2n, 3n, 4n]);
    expect(new Set(got.map((d) => d.event.id)).size).toBe(4);
  });

  it("resumes from a persisted cursor, the first event per subject setting the baseline", async () => {
    for (let i = 1; i <= 4; i++) fake.append(userEvent(DIR, "u1", i));
    const first = await take(subscribe(clients.events, { directoryId: DIR }), 2);
    const saved = first.at(-1)!.cursor;
    const rest = await take(subscribe(clients.events, { directoryId: DIR, cursor: saved }), 2);
    expect(rest.map((d) => d.event.sequence)).toEqual([3n, 4n]);
  });

  it("throws SequenceGapError when a subject skips, before delivering the event after the hole", async () => {
    fake.append(userEvent(DIR, "u1", 1), userEvent(DIR, "u2", 7), userEvent(DIR, "u1", 2), userEvent(DIR, "u2", 8), userEvent(DIR, "u1", 5));
    const delivered: DeliveredEvent[] = [];
    let caught: unknown;
    try {
      for await (const d of subscribe(clients.events, { directoryId: DIR })) delivered.push(d);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SequenceGapError);
    const gap = caught as SequenceGapError;
    expect(gap).toMatchObject({ subjectId: "u1", expected: 3n, received: 5n, cursor: "4" });
    expect(gap.missing).toEqual({ from: 3n, to: 4n });
    expect(gap.message).toContain("2 events missing: 3..4");
    expect(delivered.map((d) => `${d.event.subjectId}:${d.event.sequence}`)).toEqual(["u1:1", "u2:7", "u1:2", "u2:8"]);
  });

  it("does not check sequences of a type-filtered stream (they are sparse by design), unless forced", async () => {
    fake.append(userEvent(DIR, "u1", 1, "userCreated"), userEvent(DIR, "u1", 2), userEvent(DIR, "u1", 3, "userDeactivated"), userEvent(DIR, "u1", 4, "userDeleted"));
    const filter: { types: EventType[] } = { types: ["user.created", "user.deactivated", "user.deleted"] };
    // The filter takes event types only: the payload case spelling does not compile.
    // @ts-expect-error "userDeactivated" is a payload case, not an event type
    void subscribe(clients.events, { directoryId: DIR, filter: { types: ["userDeactivated"] } });
    const got = await take(subscribe(clients.events, { directoryId: DIR, filter }), 3);
    expect(got.map((d) => d.event.type)).toEqual(["user.created", "user.deactivated", "user.deleted"]);
    await expect(take(subscribe(clients.events, { directoryId: DIR, filter, checkSequence: true }), 3)).rejects.toBeInstanceOf(SequenceGapError);
  });

  it("ends quietly when its signal aborts, also while reconnecting", async () => {
    fake.append(userEvent(DIR, "u1", 1));
    const controller = new AbortController();
    const got = await take(subscribe(clients.events, { directoryId: DIR, signal: controller.signal }), 5, () => controller.abort());
    expect(got).toHaveLength(1);

    await fake.close();
    const waiting = new AbortController();
    const iteration = take(subscribe(clients.events, { directoryId: DIR, signal: waiting.signal, backoff: { initialMs: 5_000, jitter: "none" } }), 1);
    setTimeout(() => waiting.abort(), 100);
    await expect(iteration).resolves.toEqual([]);
    fake = await startFakeEventService();
  });

  it("surfaces errors a reconnect cannot fix, and gives up after maxReconnects", async () => {
    const wrongKey = createRosterClients({ baseUrl: fake.url, apiKey: "rst_key_wrong" });
    await expect(take(subscribe(wrongKey.events, { directoryId: DIR }), 1)).rejects.toMatchObject({ code: Code.Unauthenticated });

    await fake.close();
    const attempts: number[] = [];
    const closed = take(subscribe(clients.events, { directoryId: DIR, backoff: fast, maxReconnects: 3, onReconnect: (r) => attempts.push(r.attempt) }), 1);
    const error = await closed.then(() => undefined, (e: unknown) => e);
    expect(ConnectError.from(error).code).toBe(Code.Unavailable);
    expect(attempts).toEqual([1, 2, 3]);
    fake = await startFakeEventService();
  });
});
