// Each test file gets a database of its own on the shared test server, dropped at the end.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { migrate, openOrm, startEmbeddedPostgres, type Orm, type OrmOptions } from "../core/persistence/database.ts";

export const DEFAULT_TEST_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres";

export function testDatabaseServerUrl(): string {
  return process.env.ROSTER_TEST_DATABASE_URL ?? DEFAULT_TEST_DATABASE_URL;
}

async function answers(url: string): Promise<unknown> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return undefined;
  } catch (error) {
    return error ?? new Error("no answer");
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * The Postgres server the tests use: the one named by `explicitUrl` (it must answer), else
 * the default local one when it answers, else an embedded Postgres started under `dataDir`
 * (so `npm test` needs no Postgres installed). `stop` is set when one was started here.
 */
export async function ensureTestDatabaseServer(options: { explicitUrl: string | undefined; defaultUrl?: string; dataDir: string; port: number }): Promise<{ url: string; embedded: boolean; stop: () => Promise<void> }> {
  const url = options.explicitUrl ?? options.defaultUrl ?? DEFAULT_TEST_DATABASE_URL;
  const failure = await answers(url);
  if (failure === undefined) return { url, embedded: false, stop: async () => {} };
  if (options.explicitUrl !== undefined) throw new Error(`tests need Postgres at ${url} (ROSTER_TEST_DATABASE_URL)`, { cause: failure });
  const embedded = await startEmbeddedPostgres(options.dataDir, options.port);
  return { url: embedded.url, embedded: true, stop: () => embedded.stop() };
}

export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `roster_test_${randomBytes(6).toString("hex")}`;
  const server = testDatabaseServerUrl();
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(server);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const client = new pg.Client({ connectionString: server });
      await client.connect();
      try {
        // A pool's end() returns before the server has closed its sessions: give them a
        // moment, so FORCE does not terminate a session its client is still closing.
        for (let i = 0; i < 50; i++) {
          const { rows } = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1", [name]);
          if (rows[0]?.n === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** A test database with the migrations applied, and an ORM on it. */
export interface MigratedDatabase extends TestDatabase {
  readonly orm: Orm;
  /** Closes the ORM, then drops the database. */
  close(): Promise<void>;
}

/** createTestDatabase, migrated, with an ORM opened as openOrm(url, options) would. */
export async function createMigratedDatabase(options: OrmOptions = {}): Promise<MigratedDatabase> {
  const db = await createTestDatabase();
  const orm = await openOrm(db.url, options);
  try {
    await migrate(orm);
  } catch (error) {
    await orm.close();
    await db.drop();
    throw error;
  }
  return {
    ...db,
    orm,
    async close() {
      await orm.close();
      await db.drop();
    },
  };
}

/** A plain client on the test database, for asserting what is stored. */
export async function queryDatabase<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}
