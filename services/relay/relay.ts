// The outbox relay: publishes committed outbox events to Kafka, per subject in sequence
// order, and assigns each published event its gap-free global position. The parts:
//
// - lease.ts: one active relay (lease row, fencing epoch, local deadline).
// - batch-plan.ts: which events go next (committed and unpublished, per subject the
//   sequence after its cursor, fair among directories with a backlog).
// - batch-sending.ts: one send, and the search for events the broker refuses for good
//   (their subjects are parked; everything else flows).
// - marking.ts: the pipelined mark behind the lease (positions, cursors, parked subjects).
// - housekeeping.ts: lag measurement and the replay-window cleanup.
// - the event log (../event-log) owns every table these read and write.
//
// Publication is at-least-once: a batch is sent, acknowledged, then marked. A crash between
// the two re-sends the batch; consumers deduplicate by event id.
import { randomUUID } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import { sqlFor, type Sql } from "../platform/sql.ts";
import type { Logger } from "../platform/logger.ts";
import type { Notifier } from "../platform/notifier.ts";
import type { StoredEvent } from "../event-log/index.ts";
import type { ParkedEvent } from "../event-log/index.ts";
import { nextCandidates, planBatch } from "./batch-plan.ts";
import { sendBatch, type SendOutcome } from "./batch-sending.ts";
import { Housekeeping } from "./housekeeping.ts";
import { RelayLease } from "./lease.ts";
import { Marker, MAX_REASON_LENGTH } from "./marking.ts";
import { outboundMessages, type EventEncoder, type LifecycleTopics } from "./outbound.ts";
import type { OutboundMessage, Publisher } from "./publisher.ts";

export { FencedError } from "./lease.ts";

export interface RelayOptions extends LifecycleTopics {
  /**
   * The database, through MikroORM: marks in transactions of their own, everything else in
   * statements that commit on their own. The caller owns it (and closes it after stop()).
   */
  readonly orm: MikroORM;
  readonly publisher: Publisher;
  readonly logger: Logger;
  readonly toEvent: EventEncoder;
  /** Events per Kafka send and per marking transaction. */
  readonly batchSize: number;
  /** How often an idle leader looks for new rows (a NOTIFY hint wakes it sooner). */
  readonly pollIntervalMs: number;
  readonly leaseMs: number;
  /** Published rows older than this are deleted. */
  readonly retentionMs: number;
  readonly cleanupIntervalMs: number;
  /** Lease name: relays sharing it form one group with one active member. */
  readonly leaseName?: string;
  /** This relay's identity in the lease (default: random). */
  readonly holder?: string;
  readonly notifier?: Notifier;
  /** Told about every acknowledged batch and every failure (metrics). */
  readonly observer?: RelayObserver;
  /** Tests: runs after a batch is chosen and before the lease check that precedes its send. */
  readonly beforePublish?: (batch: readonly StoredEvent[]) => Promise<void>;
}

export interface RelayObserver {
  /** A batch the broker acknowledged and the relay marked published, at `ackedAt` (epoch ms). */
  published(batch: readonly StoredEvent[], ackedAt: number): void;
  failed(kind: "broker" | "database"): void;
  /** Subjects parked in a round (each logged once). */
  parked?(subjects: number): void;
}

export interface RelayMetrics {
  readonly leader: boolean;
  readonly epoch: number;
  readonly position: bigint;
  readonly publishedTotal: number;
  readonly batchesTotal: number;
  readonly errorsTotal: number;
  readonly fencedTotal: number;
  readonly heldSubjects: number;
  /** Unpublished rows (parked ones apart) and the age of the oldest, as last measured. */
  readonly lagCount: number;
  readonly lagSeconds: number;
  /** Rows held by parked subjects, as last measured. */
  readonly parkedEvents: number;
  /** Subjects this relay parked. */
  readonly parkedTotal: number;
}

export interface StepResult {
  readonly published: number;
  readonly held: number;
  /** More events were waiting: the run loop goes on without sleeping. */
  readonly more: boolean;
  /** True when the batch was refused because this relay no longer holds the lease. */
  readonly fenced: boolean;
}

const MAX_BACKOFF_MS = 5_000;

/** A batch chosen and encoded, to be sent at positions after `base` by the relay of `epoch`. */
interface Prepared {
  readonly epoch: number;
  readonly base: bigint;
  readonly batch: StoredEvent[];
  readonly held: number;
  /** More events were waiting beyond this batch. */
  readonly more: boolean;
}

class BrokerError extends Error {}

export class Relay {
  private readonly o: RelayOptions;
  /** Statements outside any transaction. */
  private readonly sql: Sql;
  private readonly lease: RelayLease;
  private readonly marker: Marker;
  private readonly chores: Housekeeping;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private housekeepingTimer: NodeJS.Timeout | undefined;
  private wakeSleep: (() => void) | undefined;
  /** The next batch, read and encoded while the previous one was being sent. */
  private prepared: Prepared | undefined;
  /** Messages encoded ahead, by event: used when the event is sent at that position. */
  private encoded = new WeakMap<StoredEvent, { position: bigint; messages: readonly OutboundMessage[] }>();
  private m = { publishedTotal: 0, batchesTotal: 0, errorsTotal: 0, fencedTotal: 0, heldSubjects: 0, parkedTotal: 0 };

  constructor(options: RelayOptions) {
    this.o = options;
    this.sql = sqlFor(options.orm.em.fork());
    this.lease = new RelayLease({
      sql: this.sql,
      logger: options.logger,
      name: options.leaseName ?? "default",
      holder: options.holder ?? randomUUID(),
      leaseMs: options.leaseMs,
      onRenewError: (error) => {
        this.m.errorsTotal++;
        this.o.logger.warn({ err: error }, "relay lease renewal failed");
      },
    });
    this.marker = new Marker(options.orm, this.lease);
    this.chores = new Housekeeping({ ...options, sql: this.sql });
  }

  get holder(): string {
    return this.lease.holder;
  }

  get isLeader(): boolean {
    return this.lease.isLeader;
  }

  metrics(): RelayMetrics {
    return {
      leader: this.isLeader,
      epoch: this.lease.epoch,
      position: this.lease.position,
      ...this.m,
      fencedTotal: this.m.fencedTotal + this.marker.fencedTotal,
      lagCount: this.chores.lagCount,
      lagSeconds: this.chores.lagSeconds,
      parkedEvents: this.chores.parkedEvents,
    };
  }

  /** Takes the lease if it is free or expired. */
  async tryAcquire(): Promise<boolean> {
    // A mark still running belongs to the previous term: let it finish (or fail) first, so
    // the new term starts from the position the database really holds.
    await this.settle().catch(() => {});
    if (!(await this.lease.acquire())) return false;
    if (this.loop) this.lease.startRenewing();
    return true;
  }

  /** Extends the lease; loses leadership if it was taken or expired. */
  renew(): Promise<boolean> {
    return this.lease.renew();
  }

  /** Marks a sent batch published now (tests: what a paused, deposed relay would try). */
  mark(batch: readonly StoredEvent[], base: bigint, epoch: number, parked: readonly ParkedEvent[] = []): Promise<void> {
    return this.marker.mark(batch, base, epoch, parked);
  }

  /** Waits for the batch being marked; false when the mark was fenced (the relay stepped down). */
  settle(): Promise<boolean> {
    return this.marker.settle();
  }

  cleanup(): Promise<number> {
    return this.chores.cleanup(() => this.stopped);
  }

  measureLag(): Promise<void> {
    return this.chores.measureLag();
  }

  /** The Kafka messages of an event at a position (encoded ahead when it could be). */
  private messages(event: StoredEvent, position: bigint): readonly OutboundMessage[] {
    const ahead = this.encoded.get(event);
    return ahead?.position === position ? ahead.messages : outboundMessages(event, position, this.o.toEvent, this.o);
  }

  /**
   * Chooses the batch that follows `base` and encodes it. `exclude` and `last`: the rows and
   * per-subject last sequences of batches sent but not yet marked.
   */
  private async prepare(epoch: number, base: bigint, exclude: readonly string[], last: ReadonlyMap<string, bigint> | undefined): Promise<Prepared> {
    const candidates = await nextCandidates(this.sql, this.o.batchSize, exclude);
    const rows = candidates.rows.map((r) => {
      const sent = last?.get(r.subjectId);
      return sent !== undefined && sent > r.cursor ? { ...r, cursor: sent } : r;
    });
    const { batch, held } = planBatch(rows, this.o.batchSize);
    // More waits only if this batch makes progress: held rows alone must not spin the loop.
    const more = batch.length > 0 && (candidates.more || batch.length === this.o.batchSize);
    batch.forEach((event, i) => {
      const position = base + BigInt(i) + 1n;
      this.encoded.set(event, { position, messages: outboundMessages(event, position, this.o.toEvent, this.o) });
    });
    return { epoch, base, batch, held, more };
  }

  /**
   * One round as leader: choose a batch, publish it (one awaited send at a time), mark it.
   * Pipelined (the run loop), the mark of this batch runs while the next batch is read,
   * encoded and sent, and a full batch's successor is read and encoded while it is being
   * sent; the next mark waits for the previous one, so positions stay gap-free and in order.
   * Not pipelined, the batch is marked before step() returns.
   */
  async step(pipelined = false): Promise<StepResult> {
    const ahead = this.prepared;
    this.prepared = undefined;
    if (!this.isLeader) {
      await this.settle().catch(() => {});
      return { published: 0, held: 0, more: false, fenced: true };
    }
    const epoch = this.lease.epoch;
    const prior = this.marker.pending;
    const base = prior ? prior.nextBase : this.lease.position;
    // Read ahead under this lease term, after exactly what was sent since: still valid.
    const { batch, held, more } = ahead?.epoch === epoch && ahead.base === base ? ahead : await this.prepare(epoch, base, prior?.seqs ?? [], prior?.last);
    this.m.heldSubjects = held;
    if (batch.length === 0) {
      const ok = await this.settle();
      return { published: 0, held, more: false, fenced: !ok };
    }
    await this.o.beforePublish?.(batch);
    // The lease may have lapsed while we read (or were paused): publish nothing then.
    if (!this.lease.holds(epoch)) {
      await this.settle().catch(() => {});
      this.lease.stepDown("lease deadline passed before publishing");
      this.m.fencedTotal++;
      return { published: 0, held, more: false, fenced: true };
    }
    const sending = sendBatch({ publisher: this.o.publisher, messages: (event, position) => this.messages(event, position), stillLeader: () => this.lease.holds(epoch) }, batch, base);
    // A backlog: the next batch is read and encoded while this one is on the wire, as if this
    // one were sent whole (it is dropped otherwise).
    let next: Promise<Prepared | undefined> | undefined;
    if (pipelined && more) {
      const last = new Map(prior?.last);
      for (const r of batch) last.set(r.subjectId, r.sequence);
      const exclude = [...(prior?.seqs ?? []), ...batch.map((r) => r.seq.toString())];
      next = this.prepare(epoch, base + BigInt(batch.length), exclude, last).catch(() => undefined);
    }
    let outcome: SendOutcome;
    try {
      outcome = await sending;
    } catch (error) {
      await next;
      await this.settle().catch(() => {});
      throw new BrokerError("publishing to Kafka failed", { cause: error });
    }
    const { sent, parked } = outcome;
    const ackedAt = Date.now();
    // The mark starts as soon as Kafka acknowledged, while the next batch may still be read:
    // EventService serves an event once it is marked.
    const fenced = async (): Promise<StepResult> => {
      await next;
      return { published: 0, held, more: false, fenced: true };
    };
    if (!(await this.settle())) return fenced();
    this.marker.begin(sent, base, epoch, parked, () => {
      this.m.publishedTotal += sent.length;
      this.m.batchesTotal++;
      if (sent.length > 0) this.o.observer?.published(sent, ackedAt);
      if (parked.length > 0) this.reportParked(parked);
    });
    // Parks are settled at once: the next round must not pick a parked subject's event again.
    if ((!pipelined || parked.length > 0) && !(await this.settle())) return fenced();
    const prepared = await next;
    if (prepared && parked.length === 0 && sent.length === batch.length) this.prepared = prepared;
    return { published: sent.length, held, more: more && sent.length > 0, fenced: false };
  }

  /** Logs each parked subject once (ids and reason, never the payload). */
  private reportParked(parked: readonly ParkedEvent[]): void {
    this.m.parkedTotal += parked.length;
    this.o.observer?.parked?.(parked.length);
    for (const { event, reason } of parked) {
      this.o.logger.error(
        { subjectId: event.subjectId, subjectType: event.subjectType, directoryId: event.directoryId, eventId: event.id, sequence: event.sequence.toString(), type: event.type, reason: reason.slice(0, MAX_REASON_LENGTH) },
        "relay parked a subject: the broker refused one of its events for good; its events wait until `roster outbox unpark`",
      );
    }
  }

  private sleep(ms: number, since?: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const wake = this.o.notifier?.wait(ms, undefined, since);
      void wake?.then(done);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakeSleep = done;
    });
  }

  start(): void {
    if (this.loop) return;
    this.o.notifier?.start();
    this.housekeepingTimer = setInterval(() => {
      this.chores.run(this.isLeader, () => this.stopped).catch((error: unknown) => this.o.logger.debug({ err: error }, "relay housekeeping failed"));
    }, 5_000);
    this.housekeepingTimer.unref();
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    let backoff = 100;
    const standbyPoll = Math.max(20, Math.min(1_000, Math.floor(this.o.leaseMs / 4)));
    while (!this.stopped) {
      try {
        if (!this.isLeader) {
          this.lease.stepDown("lease deadline passed");
          if (!(await this.tryAcquire())) {
            await this.sleep(standbyPoll);
            continue;
          }
        }
        const generation = this.o.notifier?.generation;
        const result = await this.step(true);
        backoff = 100;
        if (!result.more) {
          await this.settle();
          await this.sleep(this.o.pollIntervalMs, generation);
        }
      } catch (error) {
        await this.settle().catch(() => {});
        this.m.errorsTotal++;
        this.o.observer?.failed(error instanceof BrokerError ? "broker" : "database");
        this.o.logger.warn({ err: error, backoffMs: backoff }, "relay round failed; retrying");
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.housekeepingTimer);
    this.wakeSleep?.();
    await this.loop;
    await this.settle().catch(() => {});
    await this.lease.release();
    this.lease.stepDown("stopped");
    await this.o.notifier?.close();
    await this.o.publisher.close();
  }
}
