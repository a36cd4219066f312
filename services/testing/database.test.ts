// `npm test` on a machine without Postgres: the tests' server falls back to an embedded one
// when nothing answers on the default address, and never when an explicit URL is given.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { ensureTestDatabaseServer } from "./database.ts";
import { freePort } from "./ports.ts";

const dataDir = await mkdtemp(path.join(tmpdir(), "roster-test-pg-"));
afterAll(() => rm(dataDir, { recursive: true, force: true }));

describe("ensureTestDatabaseServer", () => {
  it("starts an embedded Postgres when nothing answers at the default address", async () => {
    const closed = await freePort();
    const server = await ensureTestDatabaseServer({ explicitUrl: undefined, defaultUrl: `postgres://postgres@127.0.0.1:${closed}/postgres`, dataDir, port: await freePort() });
    try {
      expect(server.embedded).toBe(true);
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      const { rows } = await client.query<{ one: number }>("SELECT 1 AS one");
      await client.end();
      expect(rows[0]!.one).toBe(1);
    } finally {
      await server.stop();
    }
  }, 120_000);

  it("uses the default server when it answers, and refuses an explicit URL that does not", async () => {
    const local = await ensureTestDatabaseServer({ explicitUrl: undefined, dataDir, port: 1 });
    expect(local.embedded).toBe(false);
    const closed = await freePort();
    await expect(ensureTestDatabaseServer({ explicitUrl: `postgres://postgres@127.0.0.1:${closed}/postgres`, dataDir, port: 1 })).rejects.toThrow(/tests need Postgres at/);
  });
});
