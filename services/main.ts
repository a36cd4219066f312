// `npm start`: every role in one process, on an embedded Postgres unless DATABASE_URL is set.
import { chmod, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { loadConfig } from "./config.ts";
import { createLogger } from "./platform/logger.ts";
import { startRoster, type Roster } from "./app.ts";

const config = loadConfig();
const logger = createLogger(config.logLevel);

// The process owns SIGINT/SIGTERM from the start (embedded Postgres gives its hooks up to
// it): stop accepting, let in-flight requests finish, flush the audit, drain the pools, stop
// Postgres, then exit 0. A signal during startup stops once startup is done.
const startedAt = performance.now();
const started: Promise<Roster> = startRoster(config, logger);
let stopping: Promise<void> | undefined;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    logger.info({ signal }, "shutting down");
    stopping = started
      .then((roster) => roster.stop())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, "shutdown failed");
          process.exit(1);
        },
      );
  });
}

const roster = await started;
const startupMs = Math.round(performance.now() - startedAt);
logger.info({ url: roster.server.url, roles: config.roles, embedded: roster.embedded, startupMs }, "roster listening");

const lines = [
  `Roster is listening on ${roster.server.url} (started in ${startupMs} ms)`,
  ...(config.roles.includes("core") ? [`  Connect/gRPC/gRPC-web: ${roster.server.url}/roster.directory.v1.DirectoryService/...`] : []),
  ...(config.roles.includes("scim") ? [`  SCIM 2.0: ${roster.server.url}/scim/v2`] : []),
  `  health: ${roster.server.url}/healthz   readiness: ${roster.server.url}/readyz`,
  `  roles: ${config.roles.join(", ")}`,
  `  database: ${roster.embedded ? `embedded Postgres in ${path.resolve(config.dataDir, "pg")}` : config.roles.includes("scim") && config.roles.length === 1 ? "none (SCIM facade)" : "DATABASE_URL"}`,
];
// On the embedded default, the first admin key is made for the newcomer and written to a
// file only the owner can read, never to the log. Elsewhere (a real database, a read-only
// container) operators create keys with the CLI.
const bootstrap = roster.embedded && config.roles.includes("core") ? await roster.directories.bootstrapAdminKey() : undefined;
if (bootstrap) {
  await mkdir(config.dataDir, { recursive: true });
  const keyFile = path.resolve(config.dataDir, "admin-api-key");
  await writeFile(keyFile, `${bootstrap.secret}\n`, { mode: 0o600 });
  await chmod(keyFile, 0o600);
  lines.push(`  admin API key: created; read it from ${keyFile} (send it as "authorization: Bearer <key>")`);
} else if (config.roles.includes("core")) {
  lines.push(`  admin API key: create one with "npm run roster -- api-key create --name NAME --scope admin"`);
}
process.stdout.write(`${lines.join("\n")}\n`);

