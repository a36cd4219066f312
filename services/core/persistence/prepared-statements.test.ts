// Registered statements run as named prepared statements on the ORM's connections (parsed
// and planned once per connection); any other text stays unnamed, so texts built per request
// (compiled SCIM filters) leave nothing behind on the connection.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prepared, sqlFor } from "../../platform/sql.ts";
import { createTestDatabase, type TestDatabase } from "../../testing/database.ts";
import { migrate, openOrm, type Orm } from "./database.ts";

let db: TestDatabase;
let orm: Orm;

beforeAll(async () => {
  db = await createTestDatabase();
  orm = await openOrm(db.url, { poolMax: 2 });
  await migrate(orm);
});

afterAll(async () => {
  await orm?.close();
  await db?.drop();
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
