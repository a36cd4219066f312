// EventService.SnapshotDirectory: a rebuild point streamed from one REPEATABLE READ
// transaction (services/core/application/snapshot.ts says why it is exact).
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import {
  SnapshotMembersSchema,
  SnapshotPositionSchema,
  SnapshotUserSchema,
  type EventService,
  type SnapshotDirectoryResponse,
} from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import type { SnapshotItem, SnapshotUseCases } from "../application/snapshot.ts";
import { groupToPb, userToPb } from "./convert.ts";
import { canonicalFromJson } from "./event-codec.ts";
import { encodeCursor } from "./event-service.ts";

/** Items read ahead of a slow reader before the transaction waits for it. */
const READ_AHEAD = 64;
/**
 * How long the transaction waits for a reader that takes nothing: a stalled client must not
 * hold a database connection and an old snapshot (which holds back vacuum) for ever.
 */
const READER_STALL_MS = 60_000;

function itemToPb(item: SnapshotItem): SnapshotDirectoryResponse["item"] {
  switch (item.kind) {
    case "position":
      return { case: "position", value: create(SnapshotPositionSchema, { cursor: encodeCursor(item.position), position: item.position }) };
    case "user":
      return { case: "user", value: create(SnapshotUserSchema, { user: userToPb(item.user), canonical: canonicalFromJson(item.canonical?.canonical) }) };
    case "group":
      return { case: "group", value: groupToPb(item.group) };
    case "members":
      return { case: "members", value: create(SnapshotMembersSchema, { groupId: item.groupId, userIds: item.userIds }) };
  }
}

/**
 * The items a producer emits inside its transaction, as an async iterable: the producer
 * waits while READ_AHEAD items are unread, and stops (its transaction rolls back) when the
 * reader goes away.
 */
async function* pipe<T>(produce: (emit: (item: T) => Promise<void>) => Promise<void>): AsyncGenerator<T> {
  const queue: T[] = [];
  let wakeReader: (() => void) | undefined;
  let wakeProducer: (() => void) | undefined;
  let finished = false;
  let failure: { error: unknown } | undefined;
  let cancelled = false;
  const emit = async (item: T): Promise<void> => {
    if (cancelled) throw new Error("snapshot reader went away");
    queue.push(item);
    wakeReader?.();
    if (queue.length < READ_AHEAD) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ConnectError("the snapshot reader stopped reading", Code.DeadlineExceeded)), READER_STALL_MS);
      wakeProducer = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  };
  const running = produce(emit).then(
    () => {
      finished = true;
      wakeReader?.();
    },
    (error: unknown) => {
      failure = { error };
      finished = true;
      wakeReader?.();
    },
  );
  try {
    for (;;) {
      if (queue.length > 0) {
        const item = queue.shift()!;
        const resume = wakeProducer;
        wakeProducer = undefined;
        resume?.();
        yield item;
        continue;
      }
      if (failure) throw failure.error;
      if (finished) return;
      await new Promise<void>((resolve) => (wakeReader = resolve));
      wakeReader = undefined;
    }
  } finally {
    cancelled = true;
    wakeProducer?.();
    await running;
  }
}

export function snapshotServiceImpl(snapshots: SnapshotUseCases): Partial<ServiceImpl<typeof EventService>> {
  return {
    async *snapshotDirectory(req, context) {
      for await (const item of pipe<SnapshotItem>((emit) => snapshots.snapshot(req.directoryId, emit, context.signal))) {
        yield { item: itemToPb(item) };
      }
    },
  };
}
