// The read model fed from Kafka instead of the stream: the same DirectoryMirror, kept current
// from Roster's lifecycle topics by createLifecycleConsumer (deduplicated by event id, each
// subject's sequence checked). Use it when many services mirror the directory (Kafka fans
// out) or when you already run consumers; use subscribe() when you want no broker at all.
//
// Consumer group ids: one per application, shared by its replicas (each event is handled by
// one of them); a new id reads the topics from the beginning, which a mirror kept in memory
// needs at every start. This example therefore defaults to a fresh id per process; a mirror
// persisted in a database uses one stable id instead.
//
//   KAFKA_BROKERS=127.0.0.1:9092 ROSTER_DIRECTORY_ID=... node sdk/examples/kafka-read-model.ts
//
// In your service, import from "@roster/sdk" instead of "../src/index.ts".
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { Kafka, logLevel } from "kafkajs";
import { createLifecycleConsumer, LIFECYCLE_TOPICS, type Event, type LifecycleConsumer } from "../src/index.ts";
import { DirectoryMirror } from "./read-model.ts";

export function runKafkaReadModel(options: {
  kafka: Kafka;
  groupId: string;
  /** Only this directory's events go into the mirror (the topics carry every directory). */
  directoryId: string;
  topics?: string[];
  mirror?: DirectoryMirror;
  onChange?: (mirror: DirectoryMirror, event: Event) => void;
}): { mirror: DirectoryMirror; consumer: LifecycleConsumer } {
  const mirror = options.mirror ?? new DirectoryMirror();
  const consumer = createLifecycleConsumer(options.kafka, {
    groupId: options.groupId,
    topics: options.topics,
    onEvent(event) {
      if (event.directoryId !== options.directoryId) return;
      mirror.apply(event);
      options.onChange?.(mirror, event);
    },
  });
  return { mirror, consumer };
}

function env(name: string, fallback?: string): string {
  // eslint-disable-next-line no-restricted-properties -- a standalone example configured by its environment
  const value = process.env[name] ?? fallback;
  if (!value) throw new Error(`set ${name}`);
  return value;
}

// Run directly (not imported). import.meta.main would need Node 24.2.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const kafka = new Kafka({ clientId: "roster-read-model", brokers: env("KAFKA_BROKERS").split(","), logLevel: logLevel.WARN });
  const { consumer } = runKafkaReadModel({
    kafka,
    groupId: env("ROSTER_CONSUMER_GROUP", `roster-read-model-${randomUUID()}`),
    directoryId: env("ROSTER_DIRECTORY_ID"),
    topics: [env("ROSTER_USER_TOPIC", LIFECYCLE_TOPICS.users), env("ROSTER_GROUP_TOPIC", LIFECYCLE_TOPICS.groups)],
    onChange: (m, e) => console.log(`${e.type} ${e.subjectId}: ${m.users.size} users (${m.activeUsers().length} active), ${m.groups.size} groups`),
  });
  process.once("SIGINT", () => void consumer.stop());
  process.once("SIGTERM", () => void consumer.stop());
  // Readiness: the mirror holds everything published before this process started.
  consumer.caughtUp.then(
    () => console.log("caught up; following live"),
    () => {},
  );
  consumer
    .start()
    .then(() => consumer.stopped)
    .catch((error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    });
}
