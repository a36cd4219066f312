// A rebuild point: a directory's users, groups and memberships as of one event position,
// read in one REPEATABLE READ transaction so they are consistent with each other and with
// the position.
//
// Why `snapshot + events after its position` is exact: an event gets its position when the
// relay publishes it, in a transaction after the change's own. So every event positioned at
// or before the snapshot's position is reflected in the snapshot; an event reflected in the
// snapshot may still be positioned after it (committed, not yet published). Each subject in
// the snapshot carries its version, the sequence of its last reflected event: a consumer
// applies an event only when its sequence is greater than its subject's version.
import { checkId } from "../domain/directory.ts";
import { BusyError, NotFoundError } from "../domain/errors.ts";
import type { GroupRecord, UserRecord } from "../domain/resources.ts";
import type { CanonicalPayload, CanonicalProjector } from "./canonical.ts";
import type { ListQuery, Repositories, Store } from "./store.ts";

/** Users (and groups) read per statement. */
const PAGE = 500;
/** Member ids per item: a 100,000-member group never becomes one giant message. */
export const SNAPSHOT_MEMBER_CHUNK = 1000;
/**
 * Snapshots of one directory that wait while one runs; more are refused (BusyError). One
 * at a time per directory: a snapshot holds a connection for as long as its reader takes,
 * so a tenant whose readers stall holds one of the process's snapshot connections, not all.
 */
export const MAX_WAITING_SNAPSHOTS = 4;

export type SnapshotItem =
  | { readonly kind: "position"; readonly position: bigint }
  | { readonly kind: "user"; readonly user: UserRecord; readonly canonical: CanonicalPayload | undefined }
  | { readonly kind: "group"; readonly group: GroupRecord }
  | { readonly kind: "members"; readonly groupId: string; readonly userIds: string[] };

const everything = (afterId: string | undefined): ListQuery => ({ filter: undefined, sortBy: undefined, descending: false, afterId, offset: 0, limit: PAGE, includeDeleted: true });

/** Resolves with `turn`; rejects first if `signal` aborts. */
function untilDoneOrAborted(turn: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return turn;
  signal.throwIfAborted();
  return new Promise<void>((resolve, reject) => {
    const abort = () => reject(new Error("the snapshot's reader went away"));
    signal.addEventListener("abort", abort, { once: true });
    turn.then(() => {
      signal.removeEventListener("abort", abort);
      resolve();
    }, reject);
  });
}

/** A directory's snapshots: the one running and those waiting, in order (the last one's end). */
interface Queue {
  size: number;
  last: Promise<void>;
}

export class SnapshotUseCases {
  private readonly store: Store;
  private readonly projector: CanonicalProjector | undefined;
  private readonly queues = new Map<string, Queue>();
  constructor(store: Store, projector?: CanonicalProjector) {
    this.store = store;
    this.projector = projector;
  }

  /**
   * Emits the position, then every user, then every group followed by its members. `signal`:
   * the reader went away; a snapshot waiting for its turn leaves the line at once.
   */
  async snapshot(directoryId: string, emit: (item: SnapshotItem) => Promise<void>, signal?: AbortSignal): Promise<void> {
    const dirId = checkId("directory_id", directoryId);
    await this.inTurn(dirId, signal, () => this.read(dirId, emit));
  }

  /** Runs fn after the directory's snapshots before it (see MAX_WAITING_SNAPSHOTS). */
  private async inTurn(directoryId: string, signal: AbortSignal | undefined, fn: () => Promise<void>): Promise<void> {
    const queue = this.queues.get(directoryId) ?? { size: 0, last: Promise.resolve() };
    if (queue.size > MAX_WAITING_SNAPSHOTS) {
      throw new BusyError(`directory ${directoryId} has a snapshot running and ${MAX_WAITING_SNAPSHOTS} waiting; try again when one ends`);
    }
    const before = queue.last;
    let done!: () => void;
    queue.last = new Promise<void>((resolve) => (done = resolve));
    queue.size++;
    this.queues.set(directoryId, queue);
    let started = false;
    try {
      await untilDoneOrAborted(before, signal);
      started = true;
      await fn();
    } finally {
      // One that leaves the line early still lets the next start only after those before it.
      if (started) done();
      else void before.then(done);
      if (--queue.size === 0) this.queues.delete(directoryId);
    }
  }

  private async read(dirId: string, emit: (item: SnapshotItem) => Promise<void>): Promise<void> {
    await this.store.snapshot(async (repos) => {
      if (!(await repos.directories.get(dirId))) throw new NotFoundError(`directory ${dirId} not found`);
      await emit({ kind: "position", position: await repos.outbox.headPosition(dirId) });
      for (let after: string | undefined; ; ) {
        const { items } = await repos.users.list(dirId, everything(after));
        const canonical = this.projector ? await this.projector.canonical(repos, dirId, items.filter((u) => !u.deletedAt).map((user) => ({ user }))) : [];
        let i = 0;
        for (const user of items) await emit({ kind: "user", user, canonical: user.deletedAt ? undefined : canonical[i++] });
        if (items.length < PAGE) break;
        after = items.at(-1)!.id;
      }
      for (let after: string | undefined; ; ) {
        const { items } = await repos.groups.list(dirId, everything(after));
        for (const group of items) {
          await emit({ kind: "group", group });
          await this.members(repos, group, emit);
        }
        if (items.length < PAGE) break;
        after = items.at(-1)!.id;
      }
    });
  }

  private async members(repos: Repositories, group: GroupRecord, emit: (item: SnapshotItem) => Promise<void>): Promise<void> {
    for (let after: string | undefined; ; ) {
      const rows = await repos.memberships.members(group.id, after, SNAPSHOT_MEMBER_CHUNK);
      if (rows.length > 0) await emit({ kind: "members", groupId: group.id, userIds: rows.map((r) => r.userId) });
      if (rows.length < SNAPSHOT_MEMBER_CHUNK) return;
      after = rows.at(-1)!.userId;
    }
  }
}
