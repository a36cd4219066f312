// The relay's publisher on @platformatic/kafka against the real broker: topics made with the
// configured partitions (and never auto-created), keys on the partitions the Java client and
// kafkajs choose, order per key across many requests, permanent refusals told apart from
// outages.
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { create, toBinary } from "@bufbuild/protobuf";
import { Admin } from "@platformatic/kafka";
import { Partitioners } from "kafkajs";
import { EventSchema } from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { createLogger } from "../platform/logger.ts";
import { eventually, readTopics, type TopicReader } from "../testing/events.ts";
import { testKafkaBrokers, uniqueName } from "../testing/kafka.ts";
import { PermanentPublishError, type OutboundMessage, type Publisher } from "./publisher.ts";
import { partitionOf, platformaticPublisher } from "./platformatic-publisher.ts";

const logger = createLogger("silent");
const brokers = testKafkaBrokers();
const open: Array<Publisher | TopicReader> = [];

afterAll(async () => {
  await Promise.all(open.map((o) => ("close" in o ? o.close() : o.stop())));
});

function publisherFor(topics: string[], partitions: number, maxPartitionBytes?: number): Publisher {
  const publisher = platformaticPublisher({ brokers, clientId: "roster-test-publisher", topics, partitions, logger, maxPartitionBytes });
  open.push(publisher);
  return publisher;
}

function message(topic: string, key: string, sequence: number, valueBytes = 0): OutboundMessage {
  const event = create(EventSchema, { id: `${key}:${sequence}`, subjectId: key, sequence: BigInt(sequence), type: "x".repeat(valueBytes) });
  return { topic, key, value: toBinary(EventSchema, event), headers: { ce_id: `${key}:${sequence}`, ce_type: "io.roster.test" } };
}

async function topicPartitions(topic: string): Promise<number | undefined> {
  const admin = new Admin({ clientId: "roster-test-admin", bootstrapBrokers: brokers });
  try {
    if (!(await admin.listTopics()).includes(topic)) return undefined;
    const metadata = await admin.metadata({ topics: [topic] });
    return metadata.topics.get(topic)?.partitionsCount;
  } finally {
    await admin.close();
  }
}

/** kafkajs' default (Java-compatible) choice for a key: where earlier releases put it. */
const kafkajsPartitioner = Partitioners.DefaultPartitioner();
const partitionLists = new Map<number, Array<{ partitionId: number; leader: number; partitionErrorCode: number; replicas: number[]; isr: number[] }>>();
function kafkajsPartition(topic: string, key: string, partitions: number): number {
  let partitionMetadata = partitionLists.get(partitions);
  if (!partitionMetadata) {
    partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }));
    partitionLists.set(partitions, partitionMetadata);
  }
  return kafkajsPartitioner({ topic, partitionMetadata, message: { key, value: null } });
}

describe("platformatic publisher", () => {
  it("chooses kafkajs' partition for 100,000 keys of every length and partition count", () => {
    const mismatches: string[] = [];
    for (let i = 0; i < 100_000; i++) {
      // UUIDs (the relay's keys), and any other text: lengths 0..40, non-ASCII included.
      const key = i % 2 === 0 ? randomUUID() : randomBytes(i % 31).toString("base64") + "é".repeat(i % 3);
      const partitions = 1 + (i % 12);
      if (partitionOf(key, partitions) !== kafkajsPartition("t", key, partitions)) mismatches.push(key);
    }
    expect(mismatches).toEqual([]);
  });

  it("makes a missing topic with the configured partitions and never auto-creates another", async () => {
    const topic = uniqueName("roster-pub-created");
    const stray = uniqueName("roster-pub-stray");
    const publisher = publisherFor([topic], 5);
    await publisher.publish([message(topic, "user-1", 1)]);
    expect(await topicPartitions(topic)).toBe(5);

    await expect(publisher.publish([message(stray, "user-1", 1)])).rejects.toThrow();
    expect(await topicPartitions(stray)).toBeUndefined();
    // The failure dropped the producer; the next batch goes through on a fresh one.
    await publisher.publish([message(topic, "user-1", 2)]);
  });

  it("puts every key on the partition kafkajs and the Java client choose, in order across many requests", async () => {
    const topic = uniqueName("roster-pub-order");
    const partitions = 6;
    // A tiny per-partition budget: 20,000 messages go out in hundreds of requests.
    const publisher = publisherFor([topic], partitions, 4 * 1024);
    const keys = Array.from({ length: 500 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`);
    const batch: OutboundMessage[] = [];
    for (let sequence = 1; sequence <= 40; sequence++) for (const key of keys) batch.push(message(topic, key, sequence));
    await publisher.publish(batch);

    const reader = await readTopics([topic]);
    open.push(reader);
    await eventually(() => reader.messages.length >= batch.length, 60_000, "all 20,000 messages");
    expect(reader.messages).toHaveLength(batch.length);
    const byKey = new Map<string, number[]>();
    for (const m of reader.messages) {
      expect(m.partition).toBe(kafkajsPartition(topic, m.key, partitions));
      byKey.set(m.key, [...(byKey.get(m.key) ?? []), Number(m.event.sequence)]);
    }
    const expected = Array.from({ length: 40 }, (_, i) => i + 1);
    for (const key of keys) expect(byKey.get(key)).toEqual(expected);
    // Keys whose murmur2 hash is negative are where a plain unsigned modulo would differ.
    expect(new Set(reader.messages.map((m) => m.partition)).size).toBe(partitions);
  });

  it("throws PermanentPublishError when the broker refuses a record for good, and recovers", async () => {
    const topic = uniqueName("roster-pub-too-large");
    const publisher = publisherFor([topic], 1);
    // Over the broker's default 1 MiB message.max.bytes: no retry can make it fit.
    const huge = message(topic, "user-1", 1, 1_200_000);
    const error = await publisher.publish([huge]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentPublishError);
    expect((error as Error).message).toContain("MESSAGE_TOO_LARGE");

    await publisher.publish([message(topic, "user-1", 1)]);
    const reader = await readTopics([topic]);
    open.push(reader);
    const received = await eventually(() => reader.messages.length >= 1 && reader.messages, 20_000, "the small message");
    expect(received.map((m) => m.event.id)).toEqual(["user-1:1"]);
  });

  it("reports an unreachable broker as a retriable failure, not a permanent one", async () => {
    const publisher = platformaticPublisher({ brokers: ["127.0.0.1:1"], clientId: "roster-test-down", topics: ["t"], partitions: 1, logger });
    open.push(publisher);
    const error = await publisher.publish([message("t", "user-1", 1)]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(PermanentPublishError);
  });
});
