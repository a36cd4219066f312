// Events reach the outbox as the payload and the stored message they were given, byte for
// byte, whether a statement writes one of them (plain parameters) or many (arrays unnested).
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NewEvent } from "../domain/events.ts";
import type { UserRecord } from "../domain/resources.ts";
import { sqlFor } from "../../platform/sql.ts";
import { createMigratedDatabase, type MigratedDatabase } from "../../testing/database.ts";
import { outboxRepository, userRepository, type EncodeEvent } from "./resource-repositories.ts";

let db: MigratedDatabase;
const directoryId = randomUUID();

beforeAll(async () => {
  db = await createMigratedDatabase({ poolMax: 2 });
  await sqlFor(db.orm.em.fork())("INSERT INTO directories (id, name, provider, state, created_at, updated_at) VALUES ($1, 'd', 'okta', 'active', now(), now())", [
    directoryId,
  ]);
});

afterAll(async () => {
  await db?.close();
});

/** Text a literal of either form could mangle: quotes, backslashes, braces, commas, NULL, non-ASCII. */
const HOSTILE = 'a "quoted", \\back\\slashed {braced} NULL \\x00ff \u00e9\u4e2d\ud83d\ude00 \t\n';

/** The stored message as the test's codec writes it: every byte value, then the event's id. */
const encode: EncodeEvent = (event) => Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from(event.id)]);

function userEvent(subjectId: string, sequence: number, note: string = HOSTILE): NewEvent {
  return {
    id: randomUUID(),
    directoryId,
    subjectType: "user",
    subjectId,
    sequence,
    type: "user.updated",
    occurredAt: new Date("2026-11-30T10:00:00.123Z"),
    payload: { user: { id: subjectId, note, nested: { list: [note, 1, true, null] } }, changedAttributes: ["title"] },
  };
}

interface Row {
  id: string;
  subject_id: string;
  sequence: string;
  type: string;
  payload: unknown;
  occurred_at: Date;
  event: Buffer;
}

async function rowsOf(subjectId: string): Promise<Row[]> {
  return sqlFor(db.orm.em.fork())<Row>(
    "SELECT id, subject_id, sequence::text, type, payload, occurred_at, event FROM outbox_events WHERE subject_id = $1 ORDER BY seq",
    [subjectId],
  );
}

function expectStored(rows: Row[], events: NewEvent[]): void {
  expect(rows.map((r) => r.id)).toEqual(events.map((e) => e.id));
  for (const [i, row] of rows.entries()) {
    const event = events[i]!;
    expect(row.sequence).toBe(String(event.sequence));
    expect(row.type).toBe(event.type);
    expect(row.payload).toEqual(event.payload);
    expect(new Date(row.occurred_at).toISOString()).toBe(event.occurredAt.toISOString());
    expect(Buffer.compare(row.event, Buffer.from(encode(event, JSON.stringify(event.payload))))).toBe(0);
  }
}

function user(id: string, version: number): UserRecord {
  const at = new Date("2026-11-30T10:00:00Z");
  return { id, directoryId, userName: `${id}@example.com`, externalId: null, active: true, state: "active", displayName: HOSTILE, resource: { note: HOSTILE }, version, createdAt: at, updatedAt: at, deletedAt: null };
}

describe("the outbox's rows", () => {
  it("hold one event's payload and message exactly, and several events' alike", async () => {
    for (const count of [1, 2, 5]) {
      const subjectId = randomUUID();
      const events = Array.from({ length: count }, (_, i) => userEvent(subjectId, i + 1));
      await db.orm.em.fork().transactional((em) => outboxRepository(sqlFor(em), encode).append(events));
      expectStored(await rowsOf(subjectId), events);
    }
  });

  it("hold a large payload whole", async () => {
    const subjectId = randomUUID();
    const events = [userEvent(subjectId, 1, HOSTILE.repeat(2_000))];
    await db.orm.em.fork().transactional((em) => outboxRepository(sqlFor(em), encode).append(events));
    expectStored(await rowsOf(subjectId), events);
  });

  it("come from a user's insert and update with their events, one event or several", async () => {
    for (const count of [1, 3]) {
      const id = randomUUID();
      const created = Array.from({ length: count }, (_, i) => userEvent(id, i + 1));
      const updated = Array.from({ length: count }, (_, i) => userEvent(id, count + i + 1));
      await db.orm.em.fork().transactional(async (em) => {
        const users = userRepository(sqlFor(em), encode);
        expect(await users.insertUnlessTombstoned(user(id, 1), created, undefined)).toBe(true);
        expect(await users.updateWithEvents(user(id, 2), updated, { mappingVersion: undefined, brakeOff: false })).toBe("written");
      });
      expectStored(await rowsOf(id), [...created, ...updated]);
    }
  });

  it("are not written when a guard refuses the update, one event or several", async () => {
    for (const count of [1, 3]) {
      const id = randomUUID();
      const written = await db.orm.em.fork().transactional(async (em) => {
        const users = userRepository(sqlFor(em), encode);
        await users.insertUnlessTombstoned(user(id, 1), [], undefined);
        // Mapping version 7 is not the directory's (it has none: 0).
        return users.updateWithEvents(user(id, 2), Array.from({ length: count }, (_, i) => userEvent(id, i + 1)), { mappingVersion: 7, brakeOff: false });
      });
      expect(written).toBe("mappingMoved");
      expect(await rowsOf(id)).toEqual([]);
    }
  });

  it("take 100,000 events of one append, in order", async () => {
    const subjectId = randomUUID();
    const events = Array.from({ length: 100_000 }, (_, i) => userEvent(subjectId, i + 1, "x"));
    await db.orm.em.fork().transactional((em) => outboxRepository(sqlFor(em), encode).append(events));
    const [stats] = await sqlFor(db.orm.em.fork())<{ n: string; ordered: boolean }>(
      `SELECT count(*)::text AS n, bool_and(sequence = rank) AS ordered
       FROM (SELECT sequence, rank() OVER (ORDER BY seq) AS rank FROM outbox_events WHERE subject_id = $1) AS r`,
      [subjectId],
    );
    expect(stats).toEqual({ n: "100000", ordered: true });
    const [last] = await sqlFor(db.orm.em.fork())<Row>("SELECT id, event FROM outbox_events WHERE subject_id = $1 AND sequence = 100000", [subjectId]);
    expect(last!.id).toBe(events.at(-1)!.id);
    expect(Buffer.compare(last!.event, Buffer.from(encode(events.at(-1)!, "")))).toBe(0);
  });
});
