// Runs once before the tests: checks that the Postgres server the tests use answers, so a
// missing server fails fast with a clear message instead of a timeout in every file.
import pg from "pg";
import { testDatabaseServerUrl } from "./database.ts";

export default async function setup(): Promise<void> {
  const client = new pg.Client({ connectionString: testDatabaseServerUrl(), connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
  } catch (error) {
    throw new Error(`tests need Postgres at ${testDatabaseServerUrl()} (set ROSTER_TEST_DATABASE_URL): ${String(error)}`);
  } finally {
    await client.end().catch(() => {});
  }
}
