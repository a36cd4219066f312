// Runs once before the tests: finds the Postgres server the tests use (ROSTER_TEST_DATABASE_URL,
// else a local one on 5432, else an embedded Postgres started here), and starts the project's
// Kafka broker unless KAFKA_BROKERS points at one already running (that needs Java).
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { ensureTestDatabaseServer } from "./database.ts";

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, "../..");

export default async function setup(): Promise<() => Promise<void>> {
  const database = await ensureTestDatabaseServer({
    explicitUrl: process.env.ROSTER_TEST_DATABASE_URL,
    dataDir: path.join(repo, ".tools", "test-postgres"),
    port: 54330,
  });
  if (database.embedded) {
    // Test files (in workers started after this) read it from the environment.
    process.env.ROSTER_TEST_DATABASE_URL = database.url;
    console.log(`tests: no Postgres on 127.0.0.1:5432, using an embedded one at ${new URL(database.url).host}`);
  }
  if (process.env.KAFKA_BROKERS === undefined) {
    await requireJava();
    // Idempotent: returns at once when the broker is already up.
    await run("bash", [path.join(repo, "scripts/kafka/kafka.sh"), "start"], { timeout: 180_000 });
  }
  return () => database.stop();
}

/** The broker is a JVM: say so plainly rather than failing inside the start script. */
async function requireJava(): Promise<void> {
  try {
    await run("java", ["-version"]);
  } catch (error) {
    throw new Error(
      "tests need Java 17 or newer on PATH to run the Kafka broker (e.g. apt-get install openjdk-21-jre-headless), or KAFKA_BROKERS set to a running broker",
      { cause: error },
    );
  }
}
