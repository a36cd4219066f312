// The entities the store queries describe the tables the migrations create: a column the
// entity manager reads or writes that the schema lacks, or holds in another type, fails here
// rather than on the first request that touches it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMigratedDatabase, type MigratedDatabase } from "../../testing/database.ts";

let db: MigratedDatabase;

beforeAll(async () => {
  db = await createMigratedDatabase({ poolMax: 2 });
});

afterAll(async () => {
  await db?.close();
});

describe("entities", () => {
  it("agree with the schema the migrations create", async () => {
    // Safe: only what the entities would add or change, never the tables and indexes they do not describe.
    const diff = await db.orm.schema.getUpdateSchemaSQL({ wrap: false, safe: true, dropTables: false });
    expect(diff.trim()).toBe("");
  });
});
