// Runs once before the tests: checks that the Postgres server the tests use answers, and
// starts the project's Kafka broker unless KAFKA_BROKERS points at one already running.
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { testDatabaseServerUrl } from "./database.ts";

const run = promisify(execFile);

export default async function setup(): Promise<void> {
  const client = new pg.Client({ connectionString: testDatabaseServerUrl(), connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
  } catch (error) {
    throw new Error(`tests need Postgres at ${testDatabaseServerUrl()} (set ROSTER_TEST_DATABASE_URL)`, { cause: error });
  } finally {
    await client.end().catch(() => {});
  }
  if (process.env.KAFKA_BROKERS === undefined) {
    // Idempotent: returns at once when the broker is already up.
    const script = path.resolve(import.meta.dirname, "../../scripts/kafka/kafka.sh");
    await run("bash", [script, "start"], { timeout: 180_000 });
  }
}
