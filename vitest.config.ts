import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["services/**/*.test.ts", "sdk/**/*.test.ts"],
    // Integration tests share one Postgres server and one Kafka broker; each test file
    // works in its own database or directory, so files may run in parallel.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: ["services/testing/global-setup.ts"],
  },
});
