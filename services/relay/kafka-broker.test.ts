// The real broker answers kafkajs: topic creation, idempotent produce, consumer-group
// consume and commit, and a restarted consumer resuming after its committed offset.
import { afterAll, describe, expect, it } from "vitest";
import { Kafka, logLevel, type Consumer } from "kafkajs";
import { testKafkaBrokers, uniqueName } from "../testing/kafka.ts";

const kafka = new Kafka({ clientId: "roster-test", brokers: testKafkaBrokers(), logLevel: logLevel.NOTHING });
const consumers: Consumer[] = [];

afterAll(async () => {
  await Promise.all(consumers.map((c) => c.disconnect()));
});

async function consume(groupId: string, topic: string, count: number): Promise<Array<{ key: string; value: string; offset: string }>> {
  const consumer = kafka.consumer({ groupId });
  consumers.push(consumer);
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const received: Array<{ key: string; value: string; offset: string }> = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${received.length} of ${count} messages arrived`)), 20_000);
    consumer
      .run({
        eachMessage: async ({ message }) => {
          received.push({ key: message.key!.toString(), value: message.value!.toString(), offset: message.offset });
          if (received.length === count) {
            clearTimeout(timer);
            resolve();
          }
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  return received;
}

describe("Kafka broker", () => {
  it("creates a topic, produces idempotently and consumes in a group that resumes", async () => {
    const topic = uniqueName("roster-broker-test");
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    expect(await admin.listTopics()).toContain(topic);
    await admin.disconnect();

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    for (let i = 0; i < 5; i++) {
      await producer.send({ topic, acks: -1, messages: [{ key: "user-1", value: `event-${i}` }] });
    }

    const group = uniqueName("roster-broker-group");
    const first = await consume(group, topic, 5);
    expect(first.map((m) => m.value)).toEqual(["event-0", "event-1", "event-2", "event-3", "event-4"]);

    await producer.send({ topic, acks: -1, messages: [{ key: "user-1", value: "event-5" }] });
    await producer.disconnect();
    // The group committed through event-4: a new consumer in it sees only what came after.
    const second = await consume(group, topic, 1);
    expect(second.map((m) => m.value)).toEqual(["event-5"]);
  });
});
