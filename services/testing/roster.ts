// Starts a real Roster (real HTTP on port 0, real Postgres) for a test, with its logs
// captured so tests can assert that no secret reaches them.
import { Writable } from "node:stream";
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { DescService } from "@bufbuild/protobuf";
import { loadConfig, type Config } from "../config.ts";
import { createLogger } from "../platform/logger.ts";
import { startRoster, type Roster } from "../app.ts";
import { createTestDatabase, type TestDatabase } from "./database.ts";
import { testKafkaBrokers } from "./kafka.ts";

export interface TestRoster {
  readonly roster: Roster;
  readonly url: string;
  readonly database: TestDatabase;
  readonly adminKey: string;
  readonly logs: string[];
  /** A client authenticated with the given key (the admin key by default). */
  client<S extends DescService>(service: S, key?: string, transport?: Transport): Client<S>;
  /** Stops the server but keeps the database, for restart tests. */
  stopServer(): Promise<void>;
  /** Starts a new server on the same database. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startTestRoster(env: Record<string, string> = {}): Promise<TestRoster> {
  const database = await createTestDatabase();
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString("utf8"));
      done();
    },
  });
  // The relay role is opt-in for tests (pass ROSTER_ROLES and unique topics): most tests
  // do not need Kafka, and parallel files must not publish to shared topics.
  const config: Config = loadConfig({
    ROSTER_PORT: "0",
    DATABASE_URL: database.url,
    ROSTER_LOG_LEVEL: "debug",
    ROSTER_ROLES: "core,scim",
    KAFKA_BROKERS: testKafkaBrokers().join(","),
    ...env,
  });
  const logger = createLogger(config.logLevel, sink);
  let roster = await startRoster(config, logger);
  const bootstrap = await roster.directories.bootstrapAdminKey();
  if (!bootstrap) throw new Error("a fresh database should have no admin key");
  const self: TestRoster = {
    get roster() {
      return roster;
    },
    get url() {
      return roster.server.url;
    },
    database,
    adminKey: bootstrap.secret,
    logs,
    client(service, key = bootstrap.secret, transport) {
      const t =
        transport ??
        createConnectTransport({
          baseUrl: roster.server.url,
          httpVersion: "1.1",
          interceptors: [
            (next) => (req) => {
              req.header.set("authorization", `Bearer ${key}`);
              return next(req);
            },
          ],
        });
      return createClient(service, t);
    },
    async stopServer() {
      await roster.stop();
    },
    async restart() {
      roster = await startRoster(config, logger);
    },
    async stop() {
      await roster.stop();
      await database.drop();
    },
  };
  return self;
}
