// Registered consumers and revocation: registration, acknowledgements (reported over RPC by
// StreamEvents consumers, read from the broker for Kafka consumers), the leavers a consumer
// has not revoked, and the periodic check that judges leavers against the objective.
import { checkId } from "../domain/directory.ts";
import { MutabilityError, NotFoundError, InvalidInputError } from "../domain/errors.ts";
import { checkConsumerName, checkConsumerSpec, MAX_CONSUMERS_PER_SCOPE, type Consumer, type ConsumerSpec } from "../domain/consumers.ts";

/** What one acknowledgement revoked. */
export interface Revocation {
  readonly consumer: Consumer;
  readonly revoked: number;
  /** Latencies per bucket index of the bounds given (the last index: above every bound). */
  readonly buckets: ReadonlyMap<number, number>;
  readonly secondsSum: number;
  /** Revoked after the objective, and not counted as missed before. */
  readonly missed: number;
}

export interface Judgement {
  /** Leavers newly past the objective unacknowledged (counted once). */
  readonly missed: number;
  /** Leavers past the objective still unacknowledged. */
  readonly overdue: number;
}

export interface UnrevokedRow {
  readonly eventId: string;
  readonly directoryId: string;
  readonly userId: string;
  readonly type: string;
  readonly position: bigint;
  readonly occurredAt: Date;
}

/** Where consumers are kept (core/persistence/consumer-repository.ts). */
export interface ConsumerStore {
  register(spec: ConsumerSpec, startPosition: bigint, now: Date, maxPerScope: number): Promise<Consumer | undefined>;
  get(directoryId: string | undefined, name: string): Promise<Consumer | undefined>;
  list(directoryId: string | undefined, limit: number): Promise<Consumer[]>;
  page(afterId: string | undefined, limit: number): Promise<Consumer[]>;
  delete(directoryId: string | undefined, name: string): Promise<boolean>;
  acknowledge(id: string, position: bigint, now: Date, bounds: readonly number[]): Promise<Revocation | undefined>;
  judge(id: string, now: Date): Promise<Judgement | undefined>;
  unrevoked(c: Consumer, after: bigint, occurredBy: Date | undefined, limit: number): Promise<UnrevokedRow[]>;
}

export interface ConsumerPorts {
  readonly store: ConsumerStore;
  /** The highest position ever published, in any directory. */
  globalHead(): Promise<bigint>;
  /** Throws NotFoundError for an unknown directory. */
  requireDirectory(id: string): Promise<void>;
  /**
   * A Kafka group's progress as a position: every user event at or below it has been applied
   * by the group (bounded by `head`, read before the offsets). Undefined when the broker
   * cannot tell (no broker configured, the group has committed nothing).
   */
  groupAppliedThrough?(groupId: string, head: bigint): Promise<bigint | undefined>;
  readonly observer?: ConsumerObserver;
  /** Upper bounds of the latency histogram's buckets, seconds. */
  readonly latencyBuckets: readonly number[];
}

/** Told of every measurement (the metrics). */
export interface ConsumerObserver {
  revoked(c: Consumer, buckets: ReadonlyMap<number, number>, secondsSum: number): void;
  missed(c: Consumer, users: number): void;
  overdue(c: Consumer, users: number): void;
}

export interface UnrevokedUser extends UnrevokedRow {
  readonly waitingSeconds: number;
  readonly overdue: boolean;
}

/** A directory id, or undefined for the global scope (an empty field). */
function scopeOf(directoryId: string): string | undefined {
  return directoryId === "" ? undefined : checkId("directory_id", directoryId);
}

export class ConsumerUseCases {
  private readonly p: ConsumerPorts;
  constructor(ports: ConsumerPorts) {
    this.p = ports;
  }

  async register(raw: { directoryId: string; name: string; owner: string; objectiveSeconds: number; kafkaGroupId: string }): Promise<Consumer> {
    const spec = checkConsumerSpec({
      directoryId: scopeOf(raw.directoryId),
      name: raw.name,
      owner: raw.owner,
      objectiveSeconds: raw.objectiveSeconds,
      kafkaGroupId: raw.kafkaGroupId === "" ? undefined : raw.kafkaGroupId,
    });
    if (spec.directoryId !== undefined) await this.p.requireDirectory(spec.directoryId);
    // A new consumer answers for the leavers from now on, not for the whole history.
    const consumer = await this.p.store.register(spec, await this.p.globalHead(), new Date(), MAX_CONSUMERS_PER_SCOPE);
    if (!consumer) throw new InvalidInputError("tooMany", `a scope holds at most ${MAX_CONSUMERS_PER_SCOPE} consumers`);
    return consumer;
  }

  async get(directoryId: string, name: string): Promise<Consumer> {
    const scope = scopeOf(directoryId);
    const consumer = await this.p.store.get(scope, checkConsumerName(name));
    if (!consumer) throw new NotFoundError(`consumer ${name} not found`);
    return consumer;
  }

  async list(directoryId: string): Promise<Consumer[]> {
    return this.p.store.list(scopeOf(directoryId), MAX_CONSUMERS_PER_SCOPE);
  }

  async delete(directoryId: string, name: string): Promise<void> {
    if (!(await this.p.store.delete(scopeOf(directoryId), checkConsumerName(name)))) throw new NotFoundError(`consumer ${name} not found`);
  }

  /**
   * A StreamEvents consumer's report that it has applied every event up to `position`
   * (already checked against the newest published position by the caller).
   */
  async acknowledge(directoryId: string, name: string, position: bigint): Promise<Revocation> {
    const consumer = await this.get(directoryId, name);
    if (consumer.kafkaGroupId !== undefined) {
      throw new MutabilityError(`consumer ${consumer.name} reads Kafka: its group's committed offsets are its acknowledgement`);
    }
    return this.record(consumer, position);
  }

  private async record(consumer: Consumer, position: bigint): Promise<Revocation> {
    const revocation = await this.p.store.acknowledge(consumer.id, position, new Date(), this.p.latencyBuckets);
    if (!revocation) throw new NotFoundError(`consumer ${consumer.name} not found`);
    if (revocation.revoked > 0) this.p.observer?.revoked(revocation.consumer, revocation.buckets, revocation.secondsSum);
    if (revocation.missed > 0) this.p.observer?.missed(revocation.consumer, revocation.missed);
    return revocation;
  }

  /** Leavers the consumer has not acknowledged, oldest first; past the objective only unless `all`. */
  async unrevoked(directoryId: string, name: string, options: { all: boolean; after: bigint; limit: number }): Promise<UnrevokedUser[]> {
    const consumer = await this.get(directoryId, name);
    const now = Date.now();
    const deadline = new Date(now - consumer.objectiveSeconds * 1000);
    const rows = await this.p.store.unrevoked(consumer, options.after, options.all ? undefined : deadline, options.limit);
    return rows.map((r) => {
      const waitingSeconds = Math.max(0, (now - r.occurredAt.getTime()) / 1000);
      return { ...r, waitingSeconds, overdue: waitingSeconds > consumer.objectiveSeconds };
    });
  }

  /**
   * One round of the periodic check, over every consumer page by page: a Kafka consumer's
   * group progress is read from the broker (as an acknowledgement; once per group a round),
   * then each consumer's leavers are judged against its objective. A consumer whose group
   * the broker cannot report on is still judged, on what it acknowledged before.
   */
  async check(onError: (consumer: Consumer, error: unknown) => void): Promise<void> {
    const read = this.p.groupAppliedThrough?.bind(this.p);
    // Read before any offsets: an event published after it cannot be taken as applied.
    const head = read ? await this.p.globalHead() : 0n;
    const groups = new Map<string, Promise<bigint | undefined>>();
    let after: string | undefined;
    for (;;) {
      const page = await this.p.store.page(after, 500);
      for (const consumer of page) {
        try {
          const group = consumer.kafkaGroupId;
          if (read && group) {
            let through = groups.get(group);
            if (!through) groups.set(group, (through = read(group, head)));
            const applied = await through.catch((error: unknown) => (onError(consumer, error), undefined));
            if (applied !== undefined && applied > consumer.acknowledgedPosition) await this.record(consumer, applied);
          }
          const judged = await this.p.store.judge(consumer.id, new Date());
          if (!judged) continue;
          if (judged.missed > 0) this.p.observer?.missed(consumer, judged.missed);
          this.p.observer?.overdue(consumer, judged.overdue);
        } catch (error) {
          onError(consumer, error);
        }
      }
      if (page.length < 500) return;
      after = page[page.length - 1]!.id;
    }
  }
}
