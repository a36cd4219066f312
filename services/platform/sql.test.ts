// The ORM pool's connection class sends a transaction's `begin` with its first statement: one
// write and one round trip less per transaction, with the statement still inside it.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { PreparingClient } from "./sql.ts";
import { createTestDatabase, type TestDatabase } from "../testing/database.ts";

let db: TestDatabase;
let client: PreparingClient;
let writes = 0;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

async function connect(): Promise<void> {
  client = new PreparingClient(db.url);
  await client.connect();
  // What reaches the socket: one _write or _writev per flush (corked messages go as one).
  const stream = (client as unknown as { connection: { stream: Record<"_write" | "_writev", (...a: unknown[]) => void> } }).connection.stream;
  for (const method of ["_write", "_writev"] as const) {
    const flush = stream[method].bind(stream);
    stream[method] = (...a: unknown[]) => {
      writes++;
      flush(...a);
    };
  }
}

afterEach(async () => {
  await client?.end();
});

/** What the ORM's Kysely driver sends: text and a parameter array. */
const q = async <T = Record<string, unknown>>(text: string, params: unknown[] = []) => ((await client.query(text, params)) as unknown as { rows: T[] }).rows;

describe("a transaction's begin", () => {
  it("goes out with the first statement, in one write, and that statement runs inside the transaction", async () => {
    await connect();
    writes = 0;
    await q("begin");
    expect(writes).toBe(0);
    // SET LOCAL lasts to the end of the transaction; outside one it does nothing.
    await q("SET LOCAL statement_timeout = '1234ms'");
    expect(writes).toBe(1);
    expect(await q<{ statement_timeout: string }>("SHOW statement_timeout")).toEqual([{ statement_timeout: "1234ms" }]);
    await q("commit");
    expect(writes).toBe(3);
    expect((await q<{ statement_timeout: string }>("SHOW statement_timeout"))[0]!.statement_timeout).not.toBe("1234ms");
  });

  it("is rolled back with the first statement's write", async () => {
    await connect();
    await q("CREATE TEMP TABLE kept (n int)");
    await q("begin");
    await q("INSERT INTO kept VALUES ($1)", [1]);
    await q("rollback");
    expect(await q<{ n: string }>("SELECT count(*) AS n FROM kept")).toEqual([{ n: "0" }]);
  });

  it("with an isolation level is deferred the same way", async () => {
    await connect();
    writes = 0;
    await q("start transaction isolation level repeatable read read only");
    expect(writes).toBe(0);
    expect(await q<{ transaction_isolation: string }>("SHOW transaction_isolation")).toEqual([{ transaction_isolation: "repeatable read" }]);
    expect(writes).toBe(1);
    await q("commit");
  });

  it("leaves the connection usable when the first statement fails", async () => {
    await connect();
    await q("begin");
    await expect(q("SELECT 1 / $1::int AS n", [0])).rejects.toMatchObject({ code: "22012" });
    // The transaction is aborted, as it would be with a begin of its own.
    await expect(q("SELECT 1 AS n")).rejects.toMatchObject({ code: "25P02" });
    await q("rollback");
    expect(await q<{ n: number }>("SELECT 1 AS n")).toEqual([{ n: 1 }]);
  });
});
