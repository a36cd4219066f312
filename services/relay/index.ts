// The relay role as the composition root builds it: on an ORM of its own (a small pool, so
// lease renewals and marks never queue behind requests), the Kafka publisher (or, with no
// broker configured, one that publishes nowhere), the NOTIFY hint, all from the configuration.
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { MikroORM } from "@mikro-orm/postgresql";
import type { Config } from "../config.ts";
import type { Logger } from "../platform/logger.ts";
import { Notifier } from "../platform/notifier.ts";
import { sqlFor } from "../platform/sql.ts";
import { OUTBOX_CHANNEL } from "../event-log/index.ts";
import type { Metrics } from "../platform/metrics.ts";
import { cachedLagReader, exportRelayGauges, relayObserver } from "./metrics.ts";
import type { Publisher } from "./publisher.ts";
import { platformaticPublisher } from "./platformatic-publisher.ts";
import type { EventEncoder } from "./outbound.ts";
import { Relay } from "./relay.ts";

export interface RelayRole {
  readonly relay: Relay;
  stop(): Promise<void>;
}

/** How the composition root opens the relay's ORM (openOrm's options): a small pool of its own. */
export function relayDatabase(logger: Logger) {
  const log = logger.child({ component: "relay" });
  return {
    name: "roster-relay",
    poolMax: 4,
    connectTimeoutMs: 5_000,
    keepAlive: true,
    // A dropped connection surfaces on the next statement; the loop retries with backoff.
    onConnectionLost: (error: Error) => log.warn({ err: error }, "relay database connection lost"),
  };
}

/**
 * `database`: its URL (for the NOTIFY hint's connection) and an ORM opened for the relay alone
 * (relayDatabase); the role closes that ORM when it stops.
 * `toEvent`: the core's outbox-row-to-Event conversion, the one EventService serves.
 * `metrics`, when given, receives the relay's figures (served at /metrics by the process).
 */
export function startRelay(config: Config, database: { readonly url: string; readonly orm: MikroORM }, logger: Logger, toEvent: EventEncoder, metrics?: Metrics): RelayRole {
  const log = logger.child({ component: "relay" });
  const { url: databaseUrl, orm } = database;
  const publisher =
    config.kafka.brokers.length === 0
      ? noBrokerPublisher(log)
      : platformaticPublisher({
          brokers: config.kafka.brokers,
          clientId: `${config.kafka.clientId}-relay`,
          topics: [config.kafka.userTopic, config.kafka.groupTopic],
          compactedTopics: [config.kafka.userStateTopic, config.kafka.groupStateTopic],
          partitions: config.kafka.topicPartitions,
          logger: log,
        });
  const relay = new Relay({
    orm,
    publisher,
    logger: log,
    toEvent,
    userTopic: config.kafka.userTopic,
    groupTopic: config.kafka.groupTopic,
    userStateTopic: config.kafka.userStateTopic,
    groupStateTopic: config.kafka.groupStateTopic,
    formats: config.kafka.formats,
    batchSize: config.relay.batchSize,
    pollIntervalMs: config.relay.pollIntervalMs,
    leaseMs: config.relay.leaseMs,
    retentionMs: config.relay.retentionMs,
    cleanupIntervalMs: config.relay.cleanupIntervalMs,
    notifier: new Notifier(databaseUrl, OUTBOX_CHANNEL, log),
    // Who holds the lease, readable by an operator: host, pid and a random suffix.
    holder: `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`,
    observer: metrics ? relayObserver(metrics) : undefined,
  });
  const stopGauges = metrics ? exportRelayGauges(relay, metrics) : () => {};
  metrics?.watchOutbox(cachedLagReader(sqlFor(orm.em.fork()), log));
  relay.start();
  return {
    relay,
    async stop() {
      stopGauges();
      try {
        await relay.stop();
      } finally {
        await orm.close();
      }
    },
  };
}

/**
 * With no broker configured (KAFKA_BROKERS unset, the embedded default), the relay still
 * runs: every event gets its place in the global order, so EventService lists and streams
 * it; nothing goes to Kafka. Said once, at start.
 */
export function noBrokerPublisher(logger: Logger): Publisher {
  logger.info("no Kafka broker configured (KAFKA_BROKERS unset): events get their positions and EventService serves them; nothing is published to Kafka");
  return {
    async publish() {},
    async close() {},
  };
}
