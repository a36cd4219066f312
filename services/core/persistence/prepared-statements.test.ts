// Registered statements run as named prepared statements on the ORM's connections (parsed
// and planned once per connection); any other text stays unnamed, so texts built per request
// (compiled SCIM filters) leave nothing behind on the connection.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prepared, sqlFor } from "../../platform/sql.ts";
import { createMigratedDatabase, type MigratedDatabase } from "../../testing/database.ts";
import type { Orm } from "./database.ts";
import { userRepository } from "./resource-repositories.ts";

let db: MigratedDatabase;
let orm: Orm;

beforeAll(async () => {
  db = await createMigratedDatabase({ poolMax: 2 });
  orm = db.orm;
});

afterAll(async () => {
  await db?.close();
});

const REGISTERED = prepared("SELECT $1::int + 1 AS n /* registered */");
const UNREGISTERED = "SELECT $1::int + 2 AS n /* unregistered */";

describe("prepared statements", () => {
  it("prepares a registered text once on a connection and leaves other texts unnamed", async () => {
    const seen = await orm.em.fork().transactional(async (em) => {
      const sql = sqlFor(em);
      // One transaction, one connection: what it prepared is visible to it.
      const results = [];
      for (let i = 0; i < 3; i++) results.push(...(await sql<{ n: number }>(REGISTERED, [i])), ...(await sql<{ n: number }>(UNREGISTERED, [i])));
      const statements = await sql<{ statement: string }>("SELECT statement FROM pg_prepared_statements WHERE statement LIKE 'SELECT $1::int%'");
      return { results: results.map((r) => Number(r.n)), statements: statements.map((s) => s.statement) };
    });
    expect(seen.results).toEqual([1, 2, 2, 3, 3, 4]);
    expect(seen.statements).toEqual([REGISTERED]);
  });
});

describe("prepared statements across a migration", () => {
  it("keep working on their connections when a later migration adds a column", async () => {
    const users = (em: Parameters<typeof sqlFor>[0]) => userRepository(sqlFor(em), () => new Uint8Array());
    const [directoryId, userId] = [randomUUID(), randomUUID()];
    const sql = sqlFor(orm.em.fork());
    await sql("INSERT INTO directories (id, name, provider, state, created_at, updated_at) VALUES ($1, 'd', 'okta', 'active', now(), now())", [directoryId]);
    await sql(
      `INSERT INTO users (id, directory_id, user_name, active, state, resource, version, created_at, updated_at)
       VALUES ($1, $2, 'ada@example.com', true, 'active', '{}'::jsonb, 1, now(), now())`,
      [userId, directoryId],
    );
    // Both pooled connections prepare the read, in transactions open at the same time.
    const read = () => orm.em.fork().transactional(async (em) => (await users(em).getForUpdateWithGroups(directoryId, userId))?.user.userName);
    const both = () =>
      Promise.all([0, 1].map(() => orm.em.fork().transactional(async (em) => {
        await sqlFor(em)("SELECT pg_sleep(0.05)");
        return (await users(em).getForUpdateWithGroups(directoryId, randomUUID()))?.user.userName ?? null;
      })));
    expect(await both()).toEqual([null, null]);
    await sql("ALTER TABLE users ADD COLUMN nickname text");
    try {
      expect(await read()).toBe("ada@example.com");
      expect(await both()).toEqual([null, null]);
    } finally {
      await sql("ALTER TABLE users DROP COLUMN nickname");
    }
  });
});
