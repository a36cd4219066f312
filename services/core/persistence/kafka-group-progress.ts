// A Kafka consumer group's progress on the users topic, as a position of the event log: read
// from the broker, without the relay's help.
//
// Within a partition the relay publishes in position order, so a group whose committed
// offset on partition p is O has applied every message of p below O, and none from O on. The
// message at O (the first not applied) carries its Event.position N_p: every user event of
// p below N_p is applied. Taking the lowest N_p - 1 over the partitions still behind, capped
// by the head read before the offsets, gives a position at or below which every user event
// of every partition is applied. It is conservative: a partition that stalls holds back the
// acknowledgement of leavers on the others (their latency is overstated, never understated).
import { fromBinary } from "@bufbuild/protobuf";
import { Admin, Consumer, type ClusterMetadata } from "@platformatic/kafka";
import { EventSchema } from "@roster/sdk/gen/roster/events/v1/events_pb.js";

export interface KafkaGroupProgressOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly userTopic: string;
}

/** The earliest offset a partition still holds (ListOffsets' "earliest" timestamp). */
const EARLIEST = -2n;

export class KafkaGroupProgress {
  private readonly o: KafkaGroupProgressOptions;
  private readonly admin: Admin;
  // Used for its low-level fetch and offset listing only: it never joins its group.
  private readonly reader: Consumer;

  constructor(options: KafkaGroupProgressOptions) {
    this.o = options;
    const base = { clientId: options.clientId, bootstrapBrokers: [...options.brokers], retries: 2, timeout: 5_000 };
    this.admin = new Admin(base);
    this.reader = new Consumer({ ...base, groupId: `${options.clientId}-progress-reader` });
  }

  async appliedThrough(groupId: string, head: bigint): Promise<bigint | undefined> {
    const topic = this.o.userTopic;
    const metadata = await this.reader.metadata({ topics: [topic] }).catch((error: unknown) => {
      // Nothing published yet: nothing to measure.
      if (error instanceof Error && error.message.startsWith("Unknown topic")) return undefined;
      throw error;
    });
    if (!metadata) return undefined;
    const partitions = metadata.topics.get(topic)?.partitionsCount ?? 0;
    if (partitions === 0) return undefined;
    const partitionIndexes = Array.from({ length: partitions }, (_, i) => i);
    const [group] = await this.admin.listConsumerGroupOffsets({ groups: [{ groupId, topics: [{ name: topic, partitionIndexes }] }] });
    const committed = new Map<number, bigint>();
    for (const t of group?.topics ?? []) {
      if (t.name !== topic) continue;
      for (const p of t.partitions) if (p.committedOffset >= 0n) committed.set(p.partitionIndex, p.committedOffset);
    }
    if (committed.size === 0) return undefined;
    const ends = (await this.reader.listOffsets({ topics: [topic] })).get(topic) ?? [];
    const starts = (await this.reader.listOffsets({ topics: [topic], timestamp: EARLIEST })).get(topic) ?? [];
    let through = head;
    for (let partition = 0; partition < ends.length; partition++) {
      const end = ends[partition]!;
      // Nothing committed on a partition: the group has applied none of what it holds.
      const next = committed.get(partition) ?? starts[partition] ?? 0n;
      if (next >= end) continue;
      const position = await this.positionAt(metadata, partition, next);
      if (position === undefined) return undefined;
      if (position - 1n < through) through = position - 1n;
    }
    return through < 0n ? 0n : through;
  }

  /** The Event.position of the message at `offset` (the first at or after it, compaction aside). */
  private async positionAt(metadata: ClusterMetadata, partition: number, offset: bigint): Promise<bigint | undefined> {
    const topicMetadata = metadata.topics.get(this.o.userTopic);
    const leader = topicMetadata?.partitions[partition]?.leader;
    if (!topicMetadata || leader === undefined) return undefined;
    const response = await this.reader.fetch({
      node: leader,
      maxWaitTime: 100,
      topics: [{ topicId: topicMetadata.id, partitions: [{ partition, fetchOffset: offset, currentLeaderEpoch: -1, lastFetchedEpoch: -1, partitionMaxBytes: 1_048_576 }] }],
    });
    for (const t of response.responses) {
      for (const p of t.partitions) {
        for (const batch of p.records ?? []) {
          for (const record of batch.records) {
            if (batch.firstOffset + BigInt(record.offsetDelta) < offset || !record.value) continue;
            return fromBinary(EventSchema, record.value).position;
          }
        }
      }
    }
    return undefined;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.admin.close(), this.reader.close()]);
  }
}
