// Reading what the relay published, for tests: a Kafka consumer that decodes every message
// into the Event envelope, and a wait for a condition (a deadline, never a fixed sleep).
import { fromBinary } from "@bufbuild/protobuf";
import { Kafka, logLevel, type Consumer } from "kafkajs";
import { EventSchema, type Event } from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { testKafkaBrokers, uniqueName } from "./kafka.ts";

export interface Received {
  readonly topic: string;
  readonly partition: number;
  readonly key: string;
  readonly headers: Record<string, string>;
  readonly event: Event;
  /** Bytes of the message value. */
  readonly size: number;
}

export interface TopicReader {
  readonly messages: Received[];
  stop(): Promise<void>;
}

/** Consumes the topics from the beginning into `messages` until stopped. */
export async function readTopics(topics: readonly string[], brokers: readonly string[] = testKafkaBrokers()): Promise<TopicReader> {
  const kafka = new Kafka({ clientId: "roster-test-reader", brokers: [...brokers], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t));
  if (missing.length > 0) await admin.createTopics({ topics: missing.map((topic) => ({ topic, numPartitions: 3 })), waitForLeaders: true }).catch(() => {});
  await admin.disconnect();
  const consumer: Consumer = kafka.consumer({ groupId: uniqueName("roster-test-reader"), maxWaitTimeInMs: 50 });
  await consumer.connect();
  for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
  const messages: Received[] = [];
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(Array.isArray(v) ? v[0] : v);
      messages.push({ topic, partition, key: message.key?.toString() ?? "", headers, event: fromBinary(EventSchema, message.value!), size: message.value!.byteLength });
    },
  });
  return { messages, stop: () => consumer.disconnect() };
}

/** One record as the broker stored it: a null value is a tombstone. */
export interface RawRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly key: string;
  readonly value: Buffer | null;
  readonly headers: Record<string, string>;
}

export interface RecordReader {
  readonly records: RawRecord[];
  stop(): Promise<void>;
}

/** Consumes the topics (which must exist) from the beginning into `records`, undecoded, until stopped. */
export async function readRecords(topics: readonly string[], brokers: readonly string[] = testKafkaBrokers()): Promise<RecordReader> {
  const kafka = new Kafka({ clientId: "roster-test-records", brokers: [...brokers], logLevel: logLevel.NOTHING });
  const consumer: Consumer = kafka.consumer({ groupId: uniqueName("roster-test-records"), maxWaitTimeInMs: 50 });
  await consumer.connect();
  for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
  const records: RawRecord[] = [];
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(Array.isArray(v) ? v[0] : v);
      records.push({ topic, partition, offset: BigInt(message.offset), key: message.key?.toString() ?? "", value: message.value, headers });
    },
  });
  return { records, stop: () => consumer.disconnect() };
}

/** Resolves once check() returns a value other than undefined/false; fails after timeoutMs. */
export async function eventually<T>(check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
