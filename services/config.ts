// The one place that reads the environment. Everything else receives a Config.

export type Role = "core" | "scim" | "relay";

/**
 * A Kafka topic's value format: `protobuf` (binary, the default), `json` (protobuf's JSON
 * mapping, CloudEvents binary mode) or `cloudevents-json` (CloudEvents structured mode).
 */
export type ValueFormat = "protobuf" | "json" | "cloudevents-json";

const VALUE_FORMATS: readonly ValueFormat[] = ["protobuf", "json", "cloudevents-json"];

export interface Config {
  readonly host: string;
  readonly port: number;
  /**
   * The base URL clients reach this service at (scheme, host, port, optional path), for the
   * absolute URLs in responses (`meta.location`, `Location`, `$ref`). Absent: the address
   * the server listens on. Never taken from a request's Host header.
   */
  readonly publicUrl: string | undefined;
  /** Postgres URL; absent means run an embedded Postgres under dataDir. */
  readonly databaseUrl: string | undefined;
  /**
   * Connections of the core's pool, which its requests share. More transactions at once than
   * the database has cores to run them only costs it CPU (each runs slower).
   */
  readonly databasePoolMax: number;
  readonly dataDir: string;
  readonly embeddedPostgresPort: number;
  readonly roles: readonly Role[];
  /** Where a SCIM facade running without the core reaches it, and the API key it uses. */
  readonly coreUrl: string | undefined;
  readonly coreApiKey: string | undefined;
  readonly logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  readonly shutdownTimeoutMs: number;
  readonly maxBodyBytes: number;
  /** Timeouts and bounds of client connections (see services/platform/server.ts). */
  readonly connections: {
    readonly headersTimeoutMs: number;
    readonly requestTimeoutMs: number;
    readonly keepAliveTimeoutMs: number;
    readonly idleTimeoutMs: number;
    readonly maxConnections: number;
    readonly maxStreamsPerSession: number;
  };
  readonly kafka: {
    /** Bootstrap servers; empty when none is configured (events then get positions but go to no broker). */
    readonly brokers: readonly string[];
    readonly clientId: string;
    readonly userTopic: string;
    readonly groupTopic: string;
    /** The compacted state topics: each user's and group's current state, keyed by id. */
    readonly userStateTopic: string;
    readonly groupStateTopic: string;
    /** Value format by topic name (each of the four topics has one). */
    readonly formats: Readonly<Record<string, ValueFormat>>;
    /** Partitions of the lifecycle topics when the relay creates them. */
    readonly topicPartitions: number;
  };
  readonly relay: {
    /** Events per Kafka send and per marking transaction. */
    readonly batchSize: number;
    /** How often an idle relay looks for new rows (commits also wake it through NOTIFY). */
    readonly pollIntervalMs: number;
    /** Leadership lease: a dead leader's standby takes over at most this long after it died. */
    readonly leaseMs: number;
    /** Published events are kept this long for replay, then deleted. */
    readonly retentionMs: number;
    readonly cleanupIntervalMs: number;
  };
  /** How often an idle StreamEvents call re-reads when no publication wakes it. */
  readonly streamPollMs: number;
  /** How often consumers' Kafka groups are read and their leavers judged against the objective. */
  readonly consumerCheckMs: number;
  readonly remap: {
    /** Users re-derived per transaction when a directory's mapping changes. */
    readonly batchSize: number;
    /** Pause between batches, leaving the database to writers. */
    readonly pauseMs: number;
  };
  readonly scim: {
    /** Requests per second per directory; 0 turns the limit off. */
    readonly rateLimitPerSecond: number;
    readonly rateLimitBurst: number;
    /** Cost units of one directory's requests running at once (0: no bound), and how many more may wait. */
    readonly directoryBudget: number;
    readonly directoryQueue: number;
    /** Refused bearer tokens per second per client address (0: no limit), and the burst. */
    readonly refusedAuthPerSecond: number;
    readonly refusedAuthBurst: number;
    /** How long SCIM audit records are kept. */
    readonly auditRetentionMs: number;
  };
}

export class ConfigError extends Error {}

type Env = Readonly<Record<string, string | undefined>>;

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

function str(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw === undefined || raw === "" ? undefined : raw;
}

function publicUrl(env: Env): string | undefined {
  const raw = str(env, "ROSTER_PUBLIC_URL");
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`ROSTER_PUBLIC_URL must be an absolute http or https URL, got "${raw}"`);
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    throw new ConfigError(`ROSTER_PUBLIC_URL must be an http or https URL without query, fragment or credentials, got "${raw}"`);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}

/** A Kafka topic name (the broker's own rule: at most 249 of [a-zA-Z0-9._-]). */
function topic(env: Env, name: string, fallback: string): string {
  const value = str(env, name) ?? fallback;
  if (!/^[a-zA-Z0-9._-]{1,249}$/.test(value) || value === "." || value === "..") {
    throw new ConfigError(`${name} must be a Kafka topic name (at most 249 of a-z A-Z 0-9 . _ -)`);
  }
  return value;
}

function valueFormat(env: Env, name: string): ValueFormat {
  const value = str(env, name) ?? "protobuf";
  if (!(VALUE_FORMATS as readonly string[]).includes(value)) throw new ConfigError(`${name} must be one of ${VALUE_FORMATS.join(", ")}`);
  return value as ValueFormat;
}

/** The four lifecycle topics, distinct (a state topic is compacted: events must never land on one). */
function kafkaTopics(env: Env): Pick<Config["kafka"], "userTopic" | "groupTopic" | "userStateTopic" | "groupStateTopic" | "formats"> {
  const named = [
    ["userTopic", "ROSTER_USER_TOPIC", "roster.lifecycle.users.v1"],
    ["groupTopic", "ROSTER_GROUP_TOPIC", "roster.lifecycle.groups.v1"],
    ["userStateTopic", "ROSTER_USER_STATE_TOPIC", "roster.directory.users.state.v1"],
    ["groupStateTopic", "ROSTER_GROUP_STATE_TOPIC", "roster.directory.groups.state.v1"],
  ] as const;
  const topics = Object.fromEntries(named.map(([key, name, fallback]) => [key, topic(env, name, fallback)])) as Record<(typeof named)[number][0], string>;
  // Kafka refuses a topic whose name differs from another's only by '.' against '_'.
  if (new Set(Object.values(topics).map((t) => t.replaceAll(".", "_"))).size !== named.length) throw new ConfigError(`${named.map(([, name]) => name).join(", ")} must name four different topics`);
  const formats: Record<string, ValueFormat> = {};
  for (const [key, name] of named) formats[topics[key]] = valueFormat(env, `${name}_FORMAT`);
  return { ...topics, formats };
}

const ROLES: readonly Role[] = ["core", "scim", "relay"];
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export function loadConfig(env: Env = process.env): Config {
  const roles = (str(env, "ROSTER_ROLES") ?? "core,scim,relay").split(",").map((r) => r.trim());
  for (const role of roles) {
    if (!ROLES.includes(role as Role)) {
      throw new ConfigError(`ROSTER_ROLES: unknown role "${role}" (expected ${ROLES.join(", ")})`);
    }
  }
  const logLevel = str(env, "ROSTER_LOG_LEVEL") ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`ROSTER_LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}`);
  }
  const coreUrl = str(env, "ROSTER_CORE_URL");
  if (roles.includes("scim") && !roles.includes("core") && (coreUrl === undefined || str(env, "ROSTER_CORE_API_KEY") === undefined)) {
    throw new ConfigError("ROSTER_CORE_URL and ROSTER_CORE_API_KEY are required when the scim role runs without the core role");
  }
  const config: Config = {
    host: str(env, "ROSTER_HOST") ?? "127.0.0.1",
    port: int(env, "ROSTER_PORT", 8080, 0, 65535),
    publicUrl: publicUrl(env),
    databaseUrl: str(env, "DATABASE_URL"),
    databasePoolMax: int(env, "ROSTER_DATABASE_POOL_MAX", 10, 1, 1_000),
    dataDir: str(env, "ROSTER_DATA_DIR") ?? ".roster",
    embeddedPostgresPort: int(env, "ROSTER_EMBEDDED_PG_PORT", 54329, 1, 65535),
    roles: roles as Role[],
    coreUrl,
    coreApiKey: str(env, "ROSTER_CORE_API_KEY"),
    logLevel: logLevel as Config["logLevel"],
    shutdownTimeoutMs: int(env, "ROSTER_SHUTDOWN_TIMEOUT_MS", 10_000, 0, 600_000),
    maxBodyBytes: int(env, "ROSTER_MAX_BODY_BYTES", 1_048_576, 1024, 64 * 1_048_576),
    connections: {
      headersTimeoutMs: int(env, "ROSTER_HEADERS_TIMEOUT_MS", 10_000, 100, 600_000),
      requestTimeoutMs: int(env, "ROSTER_REQUEST_TIMEOUT_MS", 30_000, 100, 3_600_000),
      keepAliveTimeoutMs: int(env, "ROSTER_KEEP_ALIVE_TIMEOUT_MS", 5_000, 100, 600_000),
      idleTimeoutMs: int(env, "ROSTER_IDLE_TIMEOUT_MS", 60_000, 100, 3_600_000),
      maxConnections: int(env, "ROSTER_MAX_CONNECTIONS", 4_096, 1, 1_000_000),
      maxStreamsPerSession: int(env, "ROSTER_HTTP2_MAX_STREAMS", 100, 1, 10_000),
    },
    kafka: {
      brokers: (str(env, "KAFKA_BROKERS") ?? "").split(",").map((b) => b.trim()).filter((b) => b !== ""),
      clientId: str(env, "KAFKA_CLIENT_ID") ?? "roster",
      ...kafkaTopics(env),
      topicPartitions: int(env, "KAFKA_TOPIC_PARTITIONS", 6, 1, 10_000),
    },
    relay: {
      batchSize: int(env, "ROSTER_RELAY_BATCH_SIZE", 1000, 1, 10_000),
      pollIntervalMs: int(env, "ROSTER_RELAY_POLL_MS", 200, 5, 60_000),
      leaseMs: int(env, "ROSTER_RELAY_LEASE_MS", 5_000, 200, 600_000),
      retentionMs: int(env, "ROSTER_EVENT_RETENTION_MS", 7 * 24 * 3_600_000, 0, 3_650 * 24 * 3_600_000),
      cleanupIntervalMs: int(env, "ROSTER_EVENT_CLEANUP_INTERVAL_MS", 60_000, 1_000, 86_400_000),
    },
    streamPollMs: int(env, "ROSTER_STREAM_POLL_MS", 500, 10, 60_000),
    consumerCheckMs: int(env, "ROSTER_CONSUMER_CHECK_MS", 15_000, 100, 3_600_000),
    remap: {
      batchSize: int(env, "ROSTER_REMAP_BATCH_SIZE", 250, 1, 10_000),
      pauseMs: int(env, "ROSTER_REMAP_PAUSE_MS", 0, 0, 60_000),
    },
    scim: {
      rateLimitPerSecond: int(env, "ROSTER_SCIM_RATE_LIMIT", 200, 0, 1_000_000),
      rateLimitBurst: int(env, "ROSTER_SCIM_RATE_BURST", 400, 1, 1_000_000),
      directoryBudget: int(env, "ROSTER_SCIM_DIRECTORY_BUDGET", 16, 0, 100_000),
      directoryQueue: int(env, "ROSTER_SCIM_DIRECTORY_QUEUE", 64, 0, 100_000),
      refusedAuthPerSecond: int(env, "ROSTER_SCIM_REFUSED_AUTH_RATE", 1, 0, 1_000_000),
      refusedAuthBurst: int(env, "ROSTER_SCIM_REFUSED_AUTH_BURST", 20, 1, 1_000_000),
      auditRetentionMs: int(env, "ROSTER_AUDIT_RETENTION_MS", 30 * 24 * 3_600_000, 3_600_000, 3_650 * 24 * 3_600_000),
    },
  };
  return Object.freeze(config);
}
