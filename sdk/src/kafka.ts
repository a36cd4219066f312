// Reading Roster's Kafka lifecycle topics: a decoder for one message (protobuf value plus
// CloudEvents binary-mode headers) and a kafkajs consumer wrapper that deduplicates by event
// id and checks each subject's sequence.
//
// kafkajs is a peer dependency used only through the instance you pass in (and its types),
// so the rest of the SDK works without it.
import { fromBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { Consumer, ConsumerConfig, IHeaders, Kafka, KafkaMessage } from "kafkajs";
import { EventSchema, SubjectType, type Event } from "./gen/roster/events/v1/events_pb.js";
import { CLOUDEVENTS_TYPE_PREFIX, EVENT_TYPES, LIFECYCLE_TOPICS } from "./events.ts";
import { DeliveryChecker, SequenceGapError } from "./ordering.ts";

/** CloudEvents 1.0 attributes as the relay writes them (Kafka protocol binding, binary mode). */
export interface CloudEventHeaders {
  readonly specversion: string;
  readonly id: string;
  readonly type: string;
  readonly source: string;
  readonly time: string | undefined;
  readonly subject: string | undefined;
  readonly contentType: string | undefined;
}

/** A message that is not a well-formed Roster lifecycle event. */
export class LifecycleMessageError extends Error {
  override readonly name = "LifecycleMessageError";
}

/** The parts of a kafkajs message the decoder reads. */
export type LifecycleMessage = Pick<KafkaMessage, "key" | "value" | "headers">;

function header(headers: IHeaders | undefined, name: string): string | undefined {
  const raw = headers?.[name];
  const value = Array.isArray(raw) ? raw[raw.length - 1] : raw;
  if (value === undefined) return undefined;
  return typeof value === "string" ? value : value.toString("utf8");
}

function required(headers: IHeaders | undefined, name: string): string {
  const value = header(headers, name);
  if (value === undefined || value === "") throw new LifecycleMessageError(`missing CloudEvents header ${name}`);
  return value;
}

/**
 * Decodes a lifecycle message and checks that its headers and key describe the same event
 * as its value: ce_id = id, ce_type = "io.roster." + type, key = subject id, ce_time = time
 * (to the millisecond), the type matching the payload case. Throws LifecycleMessageError.
 */
export function decodeLifecycleMessage(message: LifecycleMessage): { event: Event; headers: CloudEventHeaders } {
  const headers: CloudEventHeaders = {
    specversion: required(message.headers, "ce_specversion"),
    id: required(message.headers, "ce_id"),
    type: required(message.headers, "ce_type"),
    source: required(message.headers, "ce_source"),
    time: header(message.headers, "ce_time"),
    subject: header(message.headers, "ce_subject"),
    contentType: header(message.headers, "content-type"),
  };
  if (headers.specversion !== "1.0") throw new LifecycleMessageError(`unsupported CloudEvents specversion ${headers.specversion}`);
  if (headers.contentType !== undefined && !/^application\/(x-)?protobuf\b/i.test(headers.contentType)) {
    throw new LifecycleMessageError(`unexpected content-type ${headers.contentType}`);
  }
  if (!message.value || message.value.length === 0) throw new LifecycleMessageError("empty message value");
  let event: Event;
  try {
    event = fromBinary(EventSchema, message.value);
  } catch (error) {
    throw new LifecycleMessageError("message value is not a roster.events.v1.Event", { cause: error });
  }
  const disagree = (what: string, inHeader: string, inValue: string) =>
    new LifecycleMessageError(`${what} disagrees: header ${JSON.stringify(inHeader)}, value ${JSON.stringify(inValue)}`);
  if (!event.id) throw new LifecycleMessageError("event has no id");
  if (headers.id !== event.id) throw disagree("ce_id", headers.id, event.id);
  if (headers.type !== CLOUDEVENTS_TYPE_PREFIX + event.type) throw disagree("ce_type", headers.type, event.type);
  const key = message.key === null ? undefined : message.key.toString("utf8");
  if (key !== undefined && key !== event.subjectId) throw disagree("message key", key, event.subjectId);
  const sourceDirectory = /\/directories\/([^/]+)$/.exec(headers.source)?.[1];
  if (sourceDirectory !== undefined && sourceDirectory !== event.directoryId) throw disagree("ce_source", headers.source, event.directoryId);
  if (headers.subject !== undefined) {
    const kind = event.subjectType === SubjectType.USER ? "users" : event.subjectType === SubjectType.GROUP ? "groups" : undefined;
    if (kind !== undefined && headers.subject !== `${kind}/${event.subjectId}`) throw disagree("ce_subject", headers.subject, `${kind}/${event.subjectId}`);
  }
  if (headers.time !== undefined && event.time !== undefined) {
    const inHeader = Date.parse(headers.time);
    const inValue = Number(event.time.seconds) * 1000 + Math.floor(event.time.nanos / 1e6);
    if (Number.isNaN(inHeader) || inHeader !== inValue) throw disagree("ce_time", headers.time, new Date(timestampMs(event.time)).toISOString());
  }
  // A known payload must carry its own type; an unknown one (a newer server) passes with case undefined.
  if (event.payload.case !== undefined && EVENT_TYPES[event.payload.case] !== event.type) {
    throw disagree("type and payload", event.type, event.payload.case);
  }
  return { event, headers };
}

export interface LifecycleEventContext {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly headers: CloudEventHeaders;
}

export interface LifecycleConsumerOptions {
  groupId: string;
  /** Default: both lifecycle topics. */
  topics?: string[];
  /** Called once per new event, per subject in sequence order. Throwing retries the message (kafkajs semantics). */
  onEvent: (event: Event, context: LifecycleEventContext) => Promise<void> | void;
  /** Read a new group's topics from the start (default true: a mirror wants the history). */
  fromBeginning?: boolean;
  /** Recent event ids remembered for deduplication; default 10 000. */
  dedupeWindow?: number;
  /** Default true. Turn off only for consumers that legitimately skip events. */
  checkSequence?: boolean;
  /**
   * A message that does not decode: "stop" (default) stops the consumer with the error;
   * "skip" drops it (after telling onInvalid).
   */
  invalidMessages?: "stop" | "skip";
  onInvalid?: (error: LifecycleMessageError, context: { topic: string; partition: number; offset: string }) => void;
  /**
   * Told while start() waits for topics that do not exist yet (Roster creates them when it
   * first publishes); default: wait quietly. Polled every `topicPollMs` (default 1 s).
   */
  onWaitingForTopics?: (missing: string[]) => void;
  /**
   * Called once when this member has handled every message that was in its partitions when
   * it started (caught up; from now on it follows live). Also the `caughtUp` promise.
   */
  onCaughtUp?: () => void;
  topicPollMs?: number;
  /**
   * The group's offsets are its acknowledgement to Roster (a consumer registered with this
   * group id): an offset is committed once onEvent has returned for the message, at the end
   * of each batch and at least this often within one, ms; default 1000.
   */
  acknowledgeIntervalMs?: number;
  /** Extra kafkajs consumer settings. Topic auto-creation is always off. */
  consumerConfig?: Omit<ConsumerConfig, "groupId" | "allowAutoTopicCreation">;
}

export interface LifecycleConsumer {
  /** The kafkajs consumer, for metrics and events. */
  readonly consumer: Consumer;
  /**
   * Waits until every topic exists (never creating one), then connects, subscribes and starts
   * consuming; resolves once running. stop() while waiting resolves it without starting.
   */
  start(): Promise<void>;
  /**
   * Settles when the consumer stops: resolves after stop(), rejects with the error that
   * stopped it (a SequenceGapError, a LifecycleMessageError).
   */
  readonly stopped: Promise<void>;
  /**
   * Resolves once this member has handled everything its assigned partitions held when it
   * started ("caught up, now live"); rejects if the consumer stops before that.
   */
  readonly caughtUp: Promise<void>;
  stop(): Promise<void>;
}

/**
 * A kafkajs consumer that hands each lifecycle event to onEvent once, and stops with a
 * SequenceGapError when a subject's sequence skips. The message that revealed the gap is not
 * committed, so a consumer started after the cause is fixed reads it again.
 *
 * Sequence baselines: the first event of each subject after a (re)join of the group sets the
 * subject's baseline, because partitions move between members on rebalances; events at or
 * below a subject's last sequence are redeliveries and are skipped. Delivery is still
 * at-least-once across restarts (offsets are committed after onEvent returns): make onEvent
 * idempotent.
 */
export function createLifecycleConsumer(kafka: Kafka, options: LifecycleConsumerOptions): LifecycleConsumer {
  const topics = options.topics ?? [LIFECYCLE_TOPICS.users, LIFECYCLE_TOPICS.groups];
  // A consumer's metadata request must not create a topic: the broker would create it with
  // its own defaults (partition count, retention) instead of the ones Roster's topics have.
  const consumer = kafka.consumer({ ...options.consumerConfig, groupId: options.groupId, allowAutoTopicCreation: false });
  // Never creates topics either (kafkajs turns auto-creation off for admin clients).
  const admin = kafka.admin();
  const checker = new DeliveryChecker({ dedupeWindow: options.dedupeWindow ?? 10_000, checkSequence: options.checkSequence ?? true });
  let failure: unknown;
  let stopping: Promise<void> | undefined;
  let settle: { resolve: () => void; reject: (error: unknown) => void } | undefined;
  const stopped = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  // Nobody may be listening yet; the rejection is still observable through `stopped`.
  stopped.catch(() => {});
  const progress = caughtUpTracker(options.onCaughtUp);
  stopped.then(
    () => progress.abandon(new Error("the consumer stopped before it caught up")),
    (error: unknown) => progress.abandon(error),
  );

  consumer.on(consumer.events.GROUP_JOIN, (event) => {
    checker.resetSequences();
    void assigned(event.payload.memberAssignment);
  });
  consumer.on(consumer.events.CRASH, (event) => {
    if (!event.payload.restart) void fail(event.payload.error);
  });

  function stop(): Promise<void> {
    stopping ??= Promise.all([consumer.disconnect(), admin.disconnect().catch(() => {})]).then(
      () => (failure === undefined ? settle?.resolve() : settle?.reject(failure)),
      (error: unknown) => settle?.reject(failure ?? error),
    );
    return stopping;
  }

  function fail(error: unknown): Promise<void> {
    failure ??= error;
    return stop();
  }

  return {
    consumer,
    stopped,
    caughtUp: progress.caughtUp,
    stop,
    async start() {
      await waitForTopics();
      if (stopping) return;
      await progress.measure(async () => {
        const ends = new Map<string, bigint>();
        for (const topic of topics) {
          for (const p of await withRetries(() => admin.fetchTopicOffsets(topic))) ends.set(`${topic}/${p.partition}`, BigInt(p.high));
        }
        return ends;
      });
      if (stopping) return;
      await consumer.connect();
      for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: options.fromBeginning ?? true });
      await consumer.run({
        autoCommitInterval: options.acknowledgeIntervalMs ?? 1_000,
        eachMessage: async ({ topic, partition, message }) => {
          if (failure !== undefined) throw failure;
          let decoded: { event: Event; headers: CloudEventHeaders };
          try {
            decoded = decodeLifecycleMessage(message);
          } catch (error) {
            if (!(error instanceof LifecycleMessageError)) throw error;
            options.onInvalid?.(error, { topic, partition, offset: message.offset });
            if (options.invalidMessages === "skip") return progress.handled(topic, partition, BigInt(message.offset));
            return halt(error, topic, partition);
          }
          let verdict;
          try {
            verdict = checker.check(decoded.event);
          } catch (error) {
            if (!(error instanceof SequenceGapError)) throw error;
            return halt(error, topic, partition);
          }
          if (verdict !== "duplicate") {
            await options.onEvent(decoded.event, { topic, partition, offset: message.offset, headers: decoded.headers });
            checker.accept(decoded.event);
          }
          progress.handled(topic, partition, BigInt(message.offset));
        },
      });
    },
  };

  // The admin client never auto-creates topics (kafkajs sets allowAutoTopicCreation: false
  // for it), so listing them is a safe probe.
  async function waitForTopics(): Promise<void> {
    await admin.connect();
    while (!stopping) {
      let existing: Set<string>;
      try {
        existing = new Set(await admin.listTopics());
      } catch (error) {
        if (stopping) return;
        throw error;
      }
      const missing = topics.filter((t) => !existing.has(t));
      if (missing.length === 0 || stopping) return;
      options.onWaitingForTopics?.(missing);
      await new Promise<void>((resolve) => setTimeout(resolve, options.topicPollMs ?? 1_000));
    }
  }

  // Where this member starts in each newly assigned partition: the group's committed offset,
  // else the start (fromBeginning) or the end of the partition.
  async function assigned(assignment: Record<string, number[]>): Promise<void> {
    try {
      await progress.ready;
      const committed = new Map<string, bigint>();
      for (const { topic, partitions } of await admin.fetchOffsets({ groupId: options.groupId, topics: Object.keys(assignment) })) {
        for (const p of partitions) if (BigInt(p.offset) >= 0n) committed.set(`${topic}/${p.partition}`, BigInt(p.offset));
      }
      const fromBeginning = options.fromBeginning ?? true;
      progress.assign(
        Object.entries(assignment).flatMap(([topic, partitions]) => partitions.map((partition) => ({ key: `${topic}/${partition}`, from: committed.get(`${topic}/${partition}`) ?? (fromBeginning ? 0n : undefined) }))),
      );
    } catch (error) {
      if (!stopping) void fail(error);
    }
  }

  // Stops consuming without marking the offending message consumed: the partition is paused
  // at once (so nothing after the hole is handed over), the disconnect runs outside the
  // handler (kafkajs waits for handlers to finish on disconnect), and the handler throws so
  // kafkajs does not resolve the offset.
  function halt(error: unknown, topic: string, partition: number): never {
    failure ??= error;
    consumer.pause([{ topic, partitions: [partition] }]);
    setImmediate(() => void stop());
    throw error;
  }
}

/** A topic just created may not have its leaders known everywhere yet: ask again, briefly. */
async function withRetries<T>(call: () => Promise<T>, attempts = 20): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= attempts || (error as { retriable?: boolean }).retriable !== true) throw error;
      await new Promise<void>((resolve) => setTimeout(resolve, 250));
    }
  }
}

/**
 * "Caught up": every partition assigned to this member has been handled up to the end it had
 * when the consumer started. Partitions that start at or beyond that end count as done.
 */
function caughtUpTracker(onCaughtUp: (() => void) | undefined) {
  let ends: Map<string, bigint> | undefined;
  let pending: Set<string> | undefined;
  const handledUpTo = new Map<string, bigint>();
  let settle: { resolve: () => void; reject: (error: unknown) => void } | undefined;
  let done = false;
  const caughtUp = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  caughtUp.catch(() => {});
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));

  function check(): void {
    if (done || pending === undefined || ends === undefined) return;
    for (const key of pending) {
      const end = ends.get(key) ?? 0n;
      const next = (handledUpTo.get(key) ?? -1n) + 1n;
      if (next >= end) pending.delete(key);
    }
    if (pending.size > 0) return;
    done = true;
    settle?.resolve();
    onCaughtUp?.();
  }

  return {
    caughtUp,
    ready,
    async measure(read: () => Promise<Map<string, bigint>>): Promise<void> {
      ends = await read();
      markReady();
    },
    assign(partitions: Array<{ key: string; from: bigint | undefined }>): void {
      if (done) return;
      pending = new Set();
      for (const { key, from } of partitions) {
        const end = ends?.get(key) ?? 0n;
        // Starting at the end (no committed offset, not from the beginning) or beyond: done.
        if (from !== undefined && from < end) {
          pending.add(key);
          if (!handledUpTo.has(key)) handledUpTo.set(key, from - 1n);
        }
      }
      check();
    },
    handled(topic: string, partition: number, offset: bigint): void {
      const key = `${topic}/${partition}`;
      if (offset > (handledUpTo.get(key) ?? -1n)) handledUpTo.set(key, offset);
      check();
    },
    abandon(error: unknown): void {
      if (done) return;
      done = true;
      settle?.reject(error);
    },
  };
}
