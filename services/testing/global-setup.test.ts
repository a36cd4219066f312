// Without Java and without KAFKA_BROKERS, the test setup stops with a message that says what
// to install, instead of a failure deep inside the broker's start script.
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

describe("global setup", () => {
  it("names Java as the missing prerequisite when it is not on PATH", async () => {
    const setup = path.resolve(import.meta.dirname, "global-setup.ts");
    const script = `const { default: setup } = await import(${JSON.stringify(setup)}); await setup();`;
    const env: Record<string, string> = { PATH: "/nonexistent" };
    if (process.env.ROSTER_TEST_DATABASE_URL) env.ROSTER_TEST_DATABASE_URL = process.env.ROSTER_TEST_DATABASE_URL;
    const failure = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], { env, cwd: path.resolve(import.meta.dirname, "../..") }).then(
      () => undefined,
      (error: { stderr: string }) => error,
    );
    expect(failure?.stderr).toContain("tests need Java 17 or newer on PATH to run the Kafka broker");
  }, 60_000);
});
