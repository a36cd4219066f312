// Composition root: builds the roles the configuration asks for on one HTTP port.
//   core  - DirectoryService, MappingService, EventService and ConsumerService over Postgres
//   scim  - the SCIM facade; calls the core in process, or over Connect when run alone
//   relay - publishes the outbox to Kafka (one active relay across all processes)
import { randomBytes, randomUUID } from "node:crypto";
import type http from "node:http";
import type http2 from "node:http2";
import { createClient } from "@connectrpc/connect";
import { DirectoryService } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import type { Config } from "./config.ts";
import type { Logger } from "./platform/logger.ts";
import { Metrics } from "./platform/metrics.ts";
import { startServer, type RunningServer } from "./platform/server.ts";
import { connectHandler } from "./platform/connect-handler.ts";
import { Notifier } from "./platform/notifier.ts";
import { sqlFor } from "./platform/sql.ts";
import { migrate, openOrm, startEmbeddedPostgres, type EmbeddedPostgresHandle, type Orm } from "./core/persistence/database.ts";
import { OrmStore } from "./core/persistence/store.ts";
import { DirectoryUseCases } from "./core/application/directories.ts";
import { ResourceContext } from "./core/application/resource-context.ts";
import { AuditUseCases } from "./core/application/audit.ts";
import { BrakeUseCases } from "./core/application/brake.ts";
import { SnapshotUseCases } from "./core/application/snapshot.ts";
import { ConsumerUseCases } from "./core/application/consumers.ts";
import { ConsumerRepository } from "./core/persistence/consumer-repository.ts";
import { KafkaGroupProgress } from "./core/persistence/kafka-group-progress.ts";
import { metricsObserver } from "./core/transport/consumer-service.ts";
import { eventToPb, storedEventMessage } from "./core/transport/event-codec.ts";
import { coreInterceptors, coreRoutes, type CoreDeps } from "./core/transport/routes.ts";
import { inProcessTransport } from "./core/transport/in-process.ts";
import { EVENTS_CHANNEL, EventLog } from "./event-log/index.ts";
import { createMapping, type MappingModule } from "./mapping/transport/mapping-service.ts";
import { mappingRepositories } from "./mapping/persistence/mapping-repository.ts";
import { relayDatabase, startRelay, type RelayRole } from "./relay/index.ts";
import { cachedLagReader } from "./relay/metrics.ts";
import { AuditBuffer } from "./scim/audit-buffer.ts";
import { remoteCoreClient, type CoreClient } from "./scim/core-client.ts";
import { SCIM_BASE_PATH, scimHandler } from "./scim/handler.ts";
import { ENDPOINTS as SCIM_ENDPOINTS } from "./scim/routes.ts";
import { RateLimiter } from "./scim/rate-limit.ts";
import { DirectoryBudget } from "./scim/directory-budget.ts";
import { RefusedAuthGuard } from "./scim/refused-auth.ts";

export interface Roster {
  readonly server: RunningServer;
  /** The core's ORM and directory use cases; throw when this process does not run the core. */
  readonly orm: Orm;
  readonly directories: DirectoryUseCases;
  readonly metrics: Metrics;
  readonly embedded: boolean;
  readonly databaseUrl: string | undefined;
  /** The relay role, when this process runs it. */
  readonly relay: RelayRole | undefined;
  /** Graceful: in-flight requests finish, then the pools drain, then embedded Postgres stops. */
  stop(): Promise<void>;
}

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Res = http.ServerResponse | http2.Http2ServerResponse;

function send(res: Res, status: number, body: string, contentType: string): void {
  res.statusCode = status;
  res.setHeader("content-type", contentType);
  res.setHeader("content-length", Buffer.byteLength(body));
  res.end(body);
}

const sendJson = (res: Res, status: number, body: unknown) => send(res, status, JSON.stringify(body), "application/json");

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Directory snapshots running at once per process (SnapshotDirectory); more wait their turn. */
const SNAPSHOT_CONNECTIONS = 2;

/** The caller's request id when it is a sane one, else a new one. */
function requestIdOf(req: Req): string {
  const given = req.headers["x-request-id"];
  const value = Array.isArray(given) ? given[0] : given;
  return value !== undefined && REQUEST_ID.test(value) ? value : randomUUID();
}

// Metric labels name route templates only: a label value per distinct path a client makes
// up would grow the registry (and /metrics) without bound.
const SCIM_ENDPOINT_LABELS = new Map(SCIM_ENDPOINTS.map((e) => [e.toLowerCase(), e]));
const PLAIN_ROUTES = new Set(["/healthz", "/readyz", "/metrics"]);
const METHOD_LABELS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** The route template of a path: SCIM endpoint with ids folded, a served RPC, or "other". */
function routeLabel(path: string, procedures: ReadonlySet<string>): string {
  if (path === SCIM_BASE_PATH || path.startsWith(`${SCIM_BASE_PATH}/`)) {
    const parts = path.slice(SCIM_BASE_PATH.length).split("/").filter((p) => p !== "");
    const endpoint = parts[0] === undefined ? "" : SCIM_ENDPOINT_LABELS.get(parts[0].toLowerCase());
    if (endpoint === undefined || parts.length > 2) return `${SCIM_BASE_PATH}/{unknown}`;
    const id = parts[1];
    return `${SCIM_BASE_PATH}/${endpoint}${id === undefined ? "" : id === ".search" ? "/.search" : "/{id}"}`;
  }
  if (procedures.has(path) || PLAIN_ROUTES.has(path)) return path;
  return "other";
}

function methodLabel(method: string | undefined): string {
  return method !== undefined && METHOD_LABELS.has(method) ? method : "other";
}

interface CoreRole {
  readonly deps: CoreDeps;
  readonly orm: Orm;
  readonly store: OrmStore;
  readonly mapping: MappingModule;
  /** Ends open event streams, so the server's drain does not wait for them. */
  endStreams(): void;
  stop(): Promise<void>;
}

async function startCore(config: Config, databaseUrl: string, logger: Logger, metrics: Metrics): Promise<CoreRole> {
  const orm = await openOrm(databaseUrl, { name: "roster-core", poolMax: config.databasePoolMax, onConnectionLost: (error) => logger.warn({ err: error }, "database connection lost") });
  const applied = await migrate(orm);
  if (applied.length > 0) logger.info({ migrations: applied }, "applied migrations");
  const store = new OrmStore(orm, mappingRepositories, storedEventMessage);
  const mapping = createMapping(store, logger, { batchSize: config.remap.batchSize, pauseMs: config.remap.pauseMs });
  const directories = new DirectoryUseCases(store);
  const brake = new BrakeUseCases(store, (outcome) => metrics.deprovisioningBrake.inc({ outcome }));
  const resources = new ResourceContext(store, mapping.mapping, mapping.mapping.projection, brake, directories);
  const audit = new AuditUseCases(store);
  // EventService and the lag gauges read the event log in statements of their own, on a small
  // pool of their own: however many streams follow it, SCIM and RPC writes keep their
  // connections. Open streams end at shutdown.
  const eventsOrm = await openOrm(databaseUrl, { name: "roster-events", poolMax: 5, keepAlive: true, onConnectionLost: (error) => logger.warn({ err: error }, "event log connection lost") });
  const eventSql = sqlFor(eventsOrm.em.fork());
  // A snapshot holds its REPEATABLE READ transaction for as long as its reader takes (a
  // stalled one up to a minute): snapshots take connections of their own, so however many
  // are open, requests and streams keep theirs. Those past SNAPSHOT_CONNECTIONS wait; one
  // directory takes at most one (SnapshotUseCases runs its snapshots one at a time).
  const snapshotsOrm = await openOrm(databaseUrl, { name: "roster-snapshots", poolMax: SNAPSHOT_CONNECTIONS, onConnectionLost: (error) => logger.warn({ err: error }, "snapshot connection lost") });
  // The outbox lag, from the database: true even when no relay is alive to report it.
  metrics.watchOutbox(cachedLagReader(eventSql, logger));
  const notifier = new Notifier(databaseUrl, EVENTS_CHANNEL, logger);
  notifier.start();
  const closing = new AbortController();
  const eventLog = new EventLog(eventSql);
  // Consumers: their acknowledgements, and the periodic check (Kafka groups, objectives).
  const groups = config.kafka.brokers.length > 0
    ? new KafkaGroupProgress({ brokers: config.kafka.brokers, clientId: `${config.kafka.clientId}-consumers`, userTopic: config.kafka.userTopic })
    : undefined;
  const consumers = new ConsumerUseCases({
    store: new ConsumerRepository(orm),
    globalHead: () => eventLog.globalHeadPosition(),
    requireDirectory: async (id) => void (await directories.getDirectory(id)),
    groupAppliedThrough: groups && ((groupId, head) => groups.appliedThrough(groupId, head)),
    observer: metricsObserver(metrics),
    latencyBuckets: metrics.consumerRevocation.buckets,
  });
  let checking: Promise<void> | undefined;
  const check = setInterval(() => {
    checking ??= consumers
      .check((consumer, error) => logger.warn({ err: error, consumer: consumer.name, directoryId: consumer.directoryId }, "consumer check failed"))
      .catch((error: unknown) => logger.warn({ err: error }, "consumer check failed"))
      .finally(() => (checking = undefined));
  }, config.consumerCheckMs);
  check.unref();
  const deps: CoreDeps = {
    directories,
    resources,
    audit,
    brake,
    snapshots: new SnapshotUseCases(new OrmStore(snapshotsOrm, mappingRepositories, storedEventMessage), mapping.mapping.projection),
    mapping,
    metrics,
    logger,
    internalSecret: randomBytes(32).toString("base64url"),
    events: { log: eventLog, notifier, closing: closing.signal, streamPollMs: config.streamPollMs },
    consumers: { consumers, log: eventLog },
  };
  await mapping.start();
  // Old audit records go in bounded batches, well off the request path.
  const purge = setInterval(() => {
    audit.purge(config.scim.auditRetentionMs).catch((error: unknown) => logger.warn({ err: error }, "audit purge failed"));
  }, 3_600_000);
  purge.unref();
  return {
    deps,
    orm,
    store,
    mapping,
    endStreams: () => closing.abort(),
    async stop() {
      clearInterval(purge);
      clearInterval(check);
      closing.abort();
      await checking;
      await groups?.close();
      await mapping.stop();
      await notifier.close();
      // Requests have finished, so no connection should be out. One that still is (seen
      // after a database restart cut a transaction) must not hold the process for ever:
      // past a bound, the pool is left behind, and said so.
      const drained = await Promise.race([
        Promise.all([orm.close(), eventsOrm.close(), snapshotsOrm.close()]).then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), 5_000).unref()),
      ]);
      if (!drained) logger.warn("database pool did not drain in 5 s; leaving it to the process exit");
    },
  };
}

export async function startRoster(config: Config, logger: Logger): Promise<Roster> {
  const metrics = new Metrics();
  const needsDatabase = config.roles.includes("core") || config.roles.includes("relay");
  let embedded: EmbeddedPostgresHandle | undefined;
  let databaseUrl = config.databaseUrl;
  if (needsDatabase && databaseUrl === undefined) {
    // Roster.stop() stops it last, after requests, the audit flush and the pools.
    embedded = await startEmbeddedPostgres(config.dataDir, config.embeddedPostgresPort, { handlesSignals: true });
    databaseUrl = embedded.url;
  }
  const core = config.roles.includes("core") ? await startCore(config, databaseUrl!, logger, metrics) : undefined;
  const relay = config.roles.includes("relay")
    ? startRelay(config, { url: databaseUrl!, orm: await openOrm(databaseUrl!, relayDatabase(logger)) }, logger, eventToPb, metrics)
    : undefined;

  const connect = core
    ? connectHandler(
        coreRoutes(core.deps),
        // Bounded request size for every RPC.
        { interceptors: coreInterceptors(core.deps), readMaxBytes: config.maxBodyBytes },
        logger,
      )
    : undefined;
  // The RPC paths this process serves, the only ones that get a route label of their own.
  const procedures: ReadonlySet<string> = connect?.paths ?? new Set();

  let coreClient: CoreClient | undefined;
  if (config.roles.includes("scim")) {
    coreClient = core
      ? createClient(DirectoryService, inProcessTransport(core.deps))
      : remoteCoreClient(config.coreUrl!, config.coreApiKey!);
  }
  const audit = coreClient ? new AuditBuffer(coreClient, logger) : undefined;
  // Set from the listening address once the server is up, unless configured.
  let publicUrl = config.publicUrl;
  const scim =
    coreClient && audit
      ? scimHandler({
          core: coreClient,
          logger,
          maxBodyBytes: config.maxBodyBytes,
          publicUrl: () => publicUrl!,
          rateLimiter: new RateLimiter(config.scim.rateLimitPerSecond, config.scim.rateLimitBurst),
          directoryBudget: new DirectoryBudget(config.scim.directoryBudget, config.scim.directoryQueue),
          refusedAuth: new RefusedAuthGuard(config.scim.refusedAuthPerSecond, config.scim.refusedAuthBurst),
          audit,
          metrics,
        })
      : undefined;

  let stopping = false;
  const ready = async (): Promise<boolean> => {
    if (core) await core.store.ping();
    // A facade without its own core is ready when the core it calls is.
    else if (coreClient && config.coreUrl) {
      const answer = await fetch(new URL("/readyz", config.coreUrl), { signal: AbortSignal.timeout(2_000) });
      if (!answer.ok) throw new Error(`core answered ${answer.status}`);
    }
    return true;
  };

  const route = (req: Req, res: Res, path: string, requestId: string): void => {
    if (path === "/healthz") return sendJson(res, 200, { status: "ok" });
    if (path === "/readyz") {
      if (stopping) return sendJson(res, 503, { status: "stopping" });
      ready().then(
        () => sendJson(res, 200, { status: "ready" }),
        (error: unknown) => {
          logger.warn({ err: error }, "readiness check failed");
          sendJson(res, 503, { status: "not ready" });
        },
      );
      return;
    }
    if (path === "/metrics") {
      metrics.registry.metrics().then(
        (text) => send(res, 200, text, metrics.registry.contentType),
        (error: unknown) => sendJson(res, 500, { status: String(error) }),
      );
      return;
    }
    if (scim && (path === SCIM_BASE_PATH || path.startsWith(`${SCIM_BASE_PATH}/`))) return scim(req, res, requestId);
    if (connect) return connect(req, res);
    sendJson(res, 404, { status: "not found" });
  };

  const handler = (req: Req, res: Res): void => {
    const started = performance.now();
    const path = (req.url ?? "/").split("?", 1)[0]!;
    const requestId = requestIdOf(req);
    res.setHeader("x-request-id", requestId);
    res.on("finish", () => {
      const label = routeLabel(path, procedures);
      const method = methodLabel(req.method);
      const seconds = (performance.now() - started) / 1000;
      metrics.httpRequests.inc({ route: label, method, status: String(res.statusCode) });
      metrics.httpDuration.observe({ route: label, method }, seconds);
      if (!PLAIN_ROUTES.has(label)) {
        logger.info({ requestId, method, route: label, status: res.statusCode, ms: Math.round(seconds * 1000) }, "request");
      }
    });
    route(req, res, path, requestId);
  };

  const server = await startServer(handler, config.host, config.port, config.connections);
  publicUrl ??= server.url;
  const coreOnly = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error("this process does not run the core role");
    return value;
  };
  return {
    server,
    get orm() {
      return coreOnly(core?.orm);
    },
    get directories() {
      return coreOnly(core?.deps.directories);
    },
    metrics,
    embedded: embedded !== undefined,
    databaseUrl,
    relay,
    async stop() {
      stopping = true;
      core?.endStreams();
      try {
        await relay?.stop();
        await server.close(config.shutdownTimeoutMs);
        await audit?.close();
        await core?.stop();
      } finally {
        // Last, and even when a step before failed: nothing may outlive the process.
        await embedded?.stop();
      }
    },
  };
}
