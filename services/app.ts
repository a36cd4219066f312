// Composition root: builds the roles the configuration asks for on one HTTP port.
import { randomBytes } from "node:crypto";
import type http from "node:http";
import type http2 from "node:http2";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import pg from "pg";
import type { Config } from "./config.ts";
import type { Logger } from "./platform/logger.ts";
import { startServer, type RunningServer } from "./platform/server.ts";
import { Notifier } from "./platform/notifier.ts";
import { migrate, openOrm, startEmbeddedPostgres, type EmbeddedPostgresHandle, type Orm } from "./core/persistence/database.ts";
import { OrmStore } from "./core/persistence/store.ts";
import { DirectoryUseCases } from "./core/application/directories.ts";
import { ResourceUseCases } from "./core/application/resources.ts";
import { coreInterceptors, coreRoutes } from "./core/transport/routes.ts";
import { EVENTS_CHANNEL, EventLog } from "./core/persistence/event-log.ts";
import { startRelay, type RelayRole } from "./relay/index.ts";
import { inProcessCoreClient } from "./scim/core-client.ts";
import { SCIM_BASE_PATH, scimHandler } from "./scim/handler.ts";

export interface Roster {
  readonly server: RunningServer;
  readonly orm: Orm;
  readonly directories: DirectoryUseCases;
  readonly embedded: boolean;
  readonly databaseUrl: string;
  /** The relay role, when this process runs it. */
  readonly relay: RelayRole | undefined;
  /** Graceful: in-flight requests finish, then the pool drains, then embedded Postgres stops. */
  stop(): Promise<void>;
}

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Res = http.ServerResponse | http2.Http2ServerResponse;

function sendJson(res: Res, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader("content-type", "application/json");
  res.setHeader("content-length", Buffer.byteLength(text));
  res.end(text);
}

export async function startRoster(config: Config, logger: Logger): Promise<Roster> {
  let embedded: EmbeddedPostgresHandle | undefined;
  let databaseUrl = config.databaseUrl;
  if (databaseUrl === undefined) {
    embedded = await startEmbeddedPostgres(config.dataDir, config.embeddedPostgresPort);
    databaseUrl = embedded.url;
  }
  const orm = await openOrm(databaseUrl);
  const applied = await migrate(orm);
  if (applied.length > 0) logger.info({ migrations: applied }, "applied migrations");

  const store = new OrmStore(orm);
  const directories = new DirectoryUseCases(store);
  const internalSecret = randomBytes(32).toString("base64url");
  const resources = new ResourceUseCases(store);
  // EventService reads the event log on a pool of its own; open streams end at shutdown.
  const eventsPool = new pg.Pool({ connectionString: databaseUrl, max: 5, keepAlive: true });
  eventsPool.on("error", (error) => logger.warn({ err: error }, "event log connection lost"));
  const eventsNotifier = new Notifier(databaseUrl, EVENTS_CHANNEL, logger);
  eventsNotifier.start();
  const closing = new AbortController();
  const events = { log: new EventLog(eventsPool), notifier: eventsNotifier, closing: closing.signal, streamPollMs: config.streamPollMs };
  const coreDeps = { directories, resources, logger, internalSecret, events };
  const relay = config.roles.includes("relay") ? startRelay(config, databaseUrl, logger) : undefined;
  const connect = connectNodeAdapter({
    routes: coreRoutes(coreDeps),
    interceptors: coreInterceptors(coreDeps),
    // Bounded request size for every RPC.
    readMaxBytes: config.maxBodyBytes,
  });

  const scim = scimHandler({
    core: inProcessCoreClient(coreRoutes(coreDeps), coreInterceptors(coreDeps), internalSecret),
    logger,
    maxBodyBytes: config.maxBodyBytes,
  });

  let stopping = false;
  const handler = (req: Req, res: Res): void => {
    const path = (req.url ?? "/").split("?", 1)[0];
    if (path === "/healthz") {
      sendJson(res, 200, { status: "ok" });
      return;
    }
    if (path === "/readyz") {
      if (stopping) {
        sendJson(res, 503, { status: "stopping" });
        return;
      }
      store.ping().then(
        () => sendJson(res, 200, { status: "ready" }),
        (error: unknown) => {
          logger.warn({ err: error }, "readiness check failed");
          sendJson(res, 503, { status: "database unavailable" });
        },
      );
      return;
    }
    if (path === SCIM_BASE_PATH || path?.startsWith(`${SCIM_BASE_PATH}/`)) {
      scim(req, res);
      return;
    }
    connect(req, res);
  };

  const server = await startServer(handler, config.host, config.port);
  return {
    server,
    orm,
    directories,
    embedded: embedded !== undefined,
    databaseUrl,
    relay,
    async stop() {
      stopping = true;
      closing.abort();
      await relay?.stop();
      await server.close(config.shutdownTimeoutMs);
      await eventsNotifier.close();
      await eventsPool.end();
      await orm.close();
      await embedded?.stop();
    },
  };
}
