// The relay's only view of the broker: publish a batch and wait for the acknowledgement.
// The service publishes through @platformatic/kafka (platformatic-publisher.ts); the kafkajs
// implementation below (unmaintained since 2023) stays for the same-run comparison in
// bench/relay.ts.
import { Kafka, logLevel, type Producer } from "kafkajs";
import type { Logger } from "../platform/logger.ts";

export interface OutboundMessage {
  readonly topic: string;
  readonly key: string;
  /** Null: a tombstone (a deleted subject on a compacted state topic). */
  readonly value: Uint8Array | null;
  readonly headers: Readonly<Record<string, string>>;
}

export interface Publisher {
  /**
   * Resolves once the broker acknowledged every message (acks=all); rejects otherwise, with
   * PermanentPublishError when the broker refused a message for good.
   */
  publish(messages: readonly OutboundMessage[]): Promise<void>;
  close(): Promise<void>;
}

/** The broker refused for good (too large, invalid record): re-sending the same batch cannot succeed. */
export class PermanentPublishError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PermanentPublishError";
  }
}

/** Kafka error kinds that refuse a record for what it is: retrying it unchanged cannot help. */
export const PERMANENT_KAFKA_ERRORS: ReadonlySet<string> = new Set(["MESSAGE_TOO_LARGE", "RECORD_LIST_TOO_LARGE", "INVALID_RECORD", "CORRUPT_MESSAGE", "INVALID_TIMESTAMP"]);

/** The permanent Kafka error kind in a kafkajs error or its causes (retry wrappers), if any. */
function permanentKafkaError(error: unknown): string | undefined {
  let e: unknown = error;
  for (let depth = 0; depth < 5 && e !== null && typeof e === "object"; depth++) {
    const type = (e as { type?: unknown }).type;
    if (typeof type === "string" && PERMANENT_KAFKA_ERRORS.has(type)) return type;
    e = (e as { cause?: unknown; originalError?: unknown }).cause ?? (e as { originalError?: unknown }).originalError;
  }
  return undefined;
}

const MAX_REQUEST_BYTES = 768 * 1024;

function* chunks(messages: readonly OutboundMessage[], maxBytes: number): Generator<OutboundMessage[]> {
  let chunk: OutboundMessage[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = (m.value?.byteLength ?? 0) + m.key.length + 200;
    if (chunk.length > 0 && bytes + size > maxBytes) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(m);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}

export interface KafkaPublisherOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** Topics made on first connect when missing (with the broker's defaults otherwise). */
  readonly topics: readonly string[];
  /** Topics made compacted (cleanup.policy=compact) when missing: the state topics. */
  readonly compactedTopics?: readonly string[];
  readonly partitions: number;
  readonly logger: Logger;
}

/**
 * An idempotent producer, one request in flight, acks from all in-sync replicas. A failed
 * send throws the producer away: kafkajs' idempotent producer can stay stuck on sequence
 * errors after a broker restart, and a fresh producer id costs one round trip.
 */
export function kafkaPublisher(options: KafkaPublisherOptions): Publisher {
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    // The relay has its own backoff loop; kafkajs gives up quickly and lets it decide.
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1_000 },
  });
  let producer: Producer | undefined;
  let topicsReady = false;

  async function connected(): Promise<Producer> {
    if (producer) return producer;
    if (!topicsReady) {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const existing = new Set(await admin.listTopics());
        const compacted = options.compactedTopics ?? [];
        const missing = [...options.topics, ...compacted].filter((t) => !existing.has(t));
        if (missing.length > 0) {
          const topic = (name: string) => ({
            topic: name,
            numPartitions: options.partitions,
            configEntries: compacted.includes(name) ? [{ name: "cleanup.policy", value: "compact" }] : [],
          });
          await admin.createTopics({ topics: missing.map(topic), waitForLeaders: true });
          options.logger.info({ topics: missing }, "created Kafka topics");
        }
        topicsReady = true;
      } finally {
        await admin.disconnect();
      }
    }
    const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    await p.connect();
    producer = p;
    return p;
  }

  async function drop(): Promise<void> {
    const p = producer;
    producer = undefined;
    await p?.disconnect().catch(() => {});
  }

  return {
    async publish(messages) {
      if (messages.length === 0) return;
      try {
        const p = await connected();
        // Requests stay under the broker's default 1 MiB record-batch limit whatever the
        // partition count; each is acknowledged before the next goes.
        for (const chunk of chunks(messages, MAX_REQUEST_BYTES)) {
          const byTopic = new Map<string, Array<{ key: string; value: Buffer | null; headers: Record<string, string> }>>();
          for (const m of chunk) {
            const list = byTopic.get(m.topic) ?? [];
            list.push({ key: m.key, value: m.value && Buffer.from(m.value.buffer, m.value.byteOffset, m.value.byteLength), headers: { ...m.headers } });
            byTopic.set(m.topic, list);
          }
          await p.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, msgs]) => ({ topic, messages: msgs })) });
        }
      } catch (error) {
        await drop();
        const permanent = permanentKafkaError(error);
        if (permanent !== undefined) throw new PermanentPublishError(`Kafka refused the batch: ${permanent}`, { cause: error });
        throw error;
      }
    },
    async close() {
      await drop();
    },
  };
}
