// The entities the store queries describe the tables the migrations create: a column the
// entity manager reads or writes that the schema lacks, or holds in another type, fails here
// rather than on the first request that touches it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

describe("entities", () => {
  it("agree with the schema the migrations create", async () => {
    // Safe: only what the entities would add or change, never the tables and indexes they do not describe.
    const diff = await orm.schema.getUpdateSchemaSQL({ wrap: false, safe: true, dropTables: false });
    expect(diff.trim()).toBe("");
  });
});
