// The outbox relay: publishes committed outbox rows to Kafka, per subject in sequence order,
// and assigns each published event its gap-free global position.
//
// - Only rows below the visibility horizon are read (txid below every transaction of this
//   database still running at the snapshot), so a transaction that took its ids early and
//   commits late is never skipped.
// - Per subject, the next event published is the one whose sequence is the subject's last
//   published sequence + 1 (relay_subject_cursors); a subject whose next sequence is not yet
//   visible is held back, whatever order the rows were inserted or their xids taken in.
// - One active relay: a lease row (holder, epoch, expiry) in relay_leases. Standbys poll for
//   it. The lease row also holds the last assigned position, and marking a batch published
//   is one compare-and-set on it (same holder, same epoch, unexpired, position unchanged) in
//   the transaction that writes the positions: a deposed or paused relay cannot move the
//   cursor. Before each send the relay also checks its local lease deadline (monotonic
//   clock, started before the renewal was sent), so a relay that was paused past its lease
//   does not publish behind its successor's back.
// - Publication is at-least-once: a batch is sent, acknowledged, then marked. A crash between
//   the two re-sends the batch; consumers deduplicate by event id.
// - An event the broker refuses for good (PermanentPublishError: too large, invalid record),
//   or one over MAX_EVENT_BYTES, is never retried in a loop: the relay finds it by sending the
//   batch again in halves, parks its subject (relay_parked_subjects, written behind the
//   lease like a mark) and publishes everything else. The parked subject's later events wait
//   with it, so its order holds; `roster outbox unpark` releases it.
import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { Logger } from "../platform/logger.ts";
import type { Notifier } from "../platform/notifier.ts";
import { EVENT_COLUMNS, EVENTS_CHANNEL, toStoredEvent, type EventRow } from "../core/persistence/event-log.ts";
import { MAX_EVENT_BYTES, type StoredEvent } from "../core/transport/event-codec.ts";
import { lagFigures } from "./admin.ts";
import { outboundMessages, type LifecycleTopics } from "./outbound.ts";
import { PermanentPublishError, type OutboundMessage, type Publisher } from "./publisher.ts";

export interface RelayOptions extends LifecycleTopics {
  readonly pool: pg.Pool;
  readonly publisher: Publisher;
  readonly logger: Logger;
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

/** A subject whose next event the broker refused for good, and why (no payload). */
export interface Parked {
  readonly event: StoredEvent;
  readonly reason: string;
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
  /** True when the batch was refused because this relay no longer holds the lease. */
  readonly fenced: boolean;
}

// The visibility horizon: every transaction id below it had finished when this statement's
// snapshot was taken, so no row below it can still appear. It is the snapshot's xmin, except
// that transactions positively seen running in another database (which cannot write this
// table) are passed over: one long transaction elsewhere on a shared server must not stall
// publication here. A transaction whose database is unknown (finished meanwhile, prepared,
// hidden) still holds the horizon back; that only costs latency.
const HORIZON_XID = `(SELECT LEAST(pg_snapshot_xmax(s), (
    SELECT x FROM pg_snapshot_xip(s) AS x
     WHERE xid(x) NOT IN (SELECT backend_xid FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND datname IS DISTINCT FROM current_database())
     ORDER BY x LIMIT 1))
  FROM pg_current_snapshot() AS s)`;
const HORIZON = `txid < ${HORIZON_XID}`;
/** A parked subject's rows wait until an operator unparks it. */
const NOT_PARKED = "NOT EXISTS (SELECT 1 FROM relay_parked_subjects p WHERE p.subject_id = o.subject_id)";
/** Up to this many directories with a backlog share each batch fairly (see candidates()). */
const MAX_FAIR_DIRECTORIES = 32;
/** A reason kept with a parked subject is at most this long. */
const MAX_REASON_LENGTH = 300;
const MAX_BACKOFF_MS = 5_000;

export class FencedError extends Error {}
class BrokerError extends Error {}

export class Relay {
  private readonly o: RelayOptions;
  readonly holder: string;
  private readonly leaseName: string;
  private leader = false;
  private epoch = 0;
  private position = 0n;
  /** performance.now() after which this relay no longer trusts its lease. */
  private deadline = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private housekeepingTimer: NodeJS.Timeout | undefined;
  private wakeSleep: (() => void) | undefined;
  private m = { publishedTotal: 0, batchesTotal: 0, errorsTotal: 0, fencedTotal: 0, heldSubjects: 0, lagCount: 0, lagSeconds: 0, parkedEvents: 0, parkedTotal: 0 };
  private lastCleanup = 0;
  /** The batch sent and being marked while the next one is read and sent. */
  private inflight: { seqs: string[]; last: Map<string, bigint>; nextBase: bigint; marking: Promise<void> } | undefined;

  constructor(options: RelayOptions) {
    this.o = options;
    this.holder = options.holder ?? randomUUID();
    this.leaseName = options.leaseName ?? "default";
  }

  get isLeader(): boolean {
    return this.leader && performance.now() < this.deadline;
  }

  metrics(): RelayMetrics {
    return { leader: this.isLeader, epoch: this.epoch, position: this.position, ...this.m };
  }

  // ---------------------------------------------------------------------------- lease ---

  private get margin(): number {
    return Math.min(this.o.leaseMs * 0.2, 2_000);
  }

  /** Takes the lease if it is free or expired. */
  async tryAcquire(): Promise<boolean> {
    // A mark still running belongs to the previous term: let it finish (or fail) first, so
    // the new term starts from the position the database really holds.
    await this.settle().catch(() => {});
    const t0 = performance.now();
    await this.o.pool.query("INSERT INTO relay_leases (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", [this.leaseName]);
    const { rows } = await this.o.pool.query<{ epoch: string; position: string }>(
      `UPDATE relay_leases SET holder = $2, epoch = epoch + 1, expires_at = now() + $3 * interval '1 millisecond'
        WHERE name = $1 AND (expires_at <= now() OR holder IS NULL OR holder = $2)
        RETURNING epoch, position`,
      [this.leaseName, this.holder, this.o.leaseMs],
    );
    const row = rows[0];
    if (!row) return false;
    this.leader = true;
    this.epoch = Number(row.epoch);
    this.position = BigInt(row.position);
    this.deadline = t0 + this.o.leaseMs - this.margin;
    this.o.logger.info({ holder: this.holder, epoch: this.epoch, position: this.position.toString() }, "relay became leader");
    if (this.loop) this.startRenewing();
    return true;
  }

  /** Extends the lease; loses leadership if it was taken or expired. */
  async renew(): Promise<boolean> {
    if (!this.leader) return false;
    const t0 = performance.now();
    const { rows } = await this.o.pool.query<{ position: string }>(
      `UPDATE relay_leases SET expires_at = now() + $4 * interval '1 millisecond'
        WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > now() RETURNING position`,
      [this.leaseName, this.holder, this.epoch, this.o.leaseMs],
    );
    if (rows.length === 0) {
      this.stepDown("lease lost");
      return false;
    }
    this.deadline = t0 + this.o.leaseMs - this.margin;
    return true;
  }

  private startRenewing(): void {
    clearInterval(this.renewTimer);
    this.renewTimer = setInterval(
      () => {
        this.renew().catch((error: unknown) => {
          this.m.errorsTotal++;
          this.o.logger.warn({ err: error }, "relay lease renewal failed");
        });
      },
      Math.max(50, Math.floor(this.o.leaseMs / 3)),
    );
    this.renewTimer.unref();
  }

  private stepDown(reason: string): void {
    if (!this.leader) return;
    this.leader = false;
    clearInterval(this.renewTimer);
    this.o.logger.warn({ holder: this.holder, epoch: this.epoch, reason }, "relay stepped down");
  }

  /** Gives the lease up at once (graceful stop), so a standby need not wait for expiry. */
  private async release(): Promise<void> {
    if (!this.leader) return;
    this.stepDown("stopping");
    await this.o.pool
      .query("UPDATE relay_leases SET expires_at = '-infinity', holder = NULL WHERE name = $1 AND holder = $2 AND epoch = $3", [
        this.leaseName,
        this.holder,
        this.epoch,
      ])
      .catch(() => {});
  }

  // -------------------------------------------------------------------------- publish ---

  /**
   * Committed, unpublished rows in outbox order (per directory, when a few directories have a
   * backlog), with their subject's cursor. When every row
   * of that window belongs to a subject held back (its next sequence lies further on), the
   * window moves to those subjects' rows in sequence order, so the relay cannot stall.
   */
  private async candidates(exclude: readonly string[] = []): Promise<Array<StoredEvent & { cursor: bigint }>> {
    const columns = EVENT_COLUMNS.split(", ").map((c) => `o.${c}`).join(", ");
    // Directories with unpublished rows (an index skip scan). Several: each gets its share of
    // the batch, oldest rows first, so one directory's burst (a 100,000-member group deleted)
    // does not hold another's leavers behind it. Many: plain outbox order, which starves none.
    const { rows: dirs } = await this.o.pool.query<{ d: string }>(
      `WITH RECURSIVE dirs(d) AS (
         (SELECT directory_id FROM outbox_events WHERE position IS NULL ORDER BY directory_id LIMIT 1)
         UNION ALL
         SELECT (SELECT o.directory_id FROM outbox_events o WHERE o.position IS NULL AND o.directory_id > dirs.d ORDER BY o.directory_id LIMIT 1)
           FROM dirs WHERE dirs.d IS NOT NULL
       )
       SELECT d::text FROM dirs WHERE d IS NOT NULL LIMIT $1`,
      [MAX_FAIR_DIRECTORIES + 1],
    );
    const fair = dirs.length > 1 && dirs.length <= MAX_FAIR_DIRECTORIES;
    const head = fair
      ? await this.o.pool.query<EventRow & { cursor: string | null }>(
          `SELECT ${columns}, c.sequence::text AS cursor
             FROM unnest($3::uuid[]) AS d(directory_id)
             CROSS JOIN LATERAL (
               SELECT o.* FROM outbox_events o
                WHERE o.directory_id = d.directory_id AND o.position IS NULL AND o.${HORIZON} AND NOT (o.seq = ANY($2::bigint[])) AND ${NOT_PARKED}
                ORDER BY o.seq LIMIT $1) o
             LEFT JOIN relay_subject_cursors c USING (subject_id)`,
          [Math.ceil(this.o.batchSize / dirs.length), exclude, dirs.map((r) => r.d)],
        )
      : await this.o.pool.query<EventRow & { cursor: string | null }>(
          `SELECT ${columns}, c.sequence::text AS cursor
             FROM outbox_events o LEFT JOIN relay_subject_cursors c USING (subject_id)
            WHERE o.position IS NULL AND o.${HORIZON} AND NOT (o.seq = ANY($2::bigint[])) AND ${NOT_PARKED}
            ORDER BY o.seq LIMIT $1`,
          [this.o.batchSize, exclude],
        );
    const rows = head.rows.map((r) => ({ ...toStoredEvent(r), cursor: BigInt(r.cursor ?? "0") }));
    if (rows.length === 0 || Relay.plan(rows, 1).batch.length > 0) return rows;
    const { rows: bySubject } = await this.o.pool.query<EventRow & { cursor: string | null }>(
      `WITH ranked AS (
         SELECT o.*, row_number() OVER (PARTITION BY o.subject_id ORDER BY o.sequence) AS rn
           FROM outbox_events o
          WHERE o.subject_id = ANY($2::uuid[]) AND o.position IS NULL AND o.${HORIZON} AND NOT (o.seq = ANY($3::bigint[])) AND ${NOT_PARKED}
       )
       SELECT ${columns}, c.sequence::text AS cursor
         FROM ranked o LEFT JOIN relay_subject_cursors c USING (subject_id)
        WHERE o.rn <= $1`,
      [this.o.batchSize, [...new Set(rows.map((r) => r.subjectId))], exclude],
    );
    return bySubject.map((r) => ({ ...toStoredEvent(r), cursor: BigInt(r.cursor ?? "0") }));
  }

  /**
   * The next batch: per subject, the unbroken run of sequences after its cursor; subjects
   * interleaved in outbox order, each subject's events in sequence order.
   */
  static plan(rows: ReadonlyArray<StoredEvent & { cursor: bigint }>, limit: number): { batch: StoredEvent[]; held: number } {
    const bySubject = new Map<string, Array<StoredEvent & { cursor: bigint }>>();
    for (const r of rows) {
      const list = bySubject.get(r.subjectId) ?? [];
      list.push(r);
      bySubject.set(r.subjectId, list);
    }
    const ready: StoredEvent[] = [];
    const chains = new Map<string, StoredEvent[]>();
    let held = 0;
    for (const [subject, list] of bySubject) {
      list.sort((a, b) => (a.sequence < b.sequence ? -1 : a.sequence > b.sequence ? 1 : 0));
      let expected = list[0]!.cursor + 1n;
      const chain: StoredEvent[] = [];
      for (const r of list) {
        if (r.sequence < expected) continue; // already published under another row: impossible by the unique key
        if (r.sequence !== expected) break;
        chain.push(r);
        expected++;
      }
      if (chain.length < list.length) held++;
      if (chain.length > 0) {
        chains.set(subject, chain);
        ready.push(...chain);
      }
    }
    // Outbox order across subjects; within a subject, its slots take its chain in order.
    ready.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
    const taken = new Map<string, number>();
    const batch = ready.map((slot) => {
      const i = taken.get(slot.subjectId) ?? 0;
      taken.set(slot.subjectId, i + 1);
      return chains.get(slot.subjectId)![i]!;
    });
    return { batch: batch.slice(0, limit), held };
  }

  /** The event and, on the state topic, its subject's state after it (outbound.ts). */
  private messages(row: StoredEvent, position: bigint): OutboundMessage[] {
    return outboundMessages(row, position, this.o);
  }

  /**
   * Marks a sent batch published: positions, subject cursors, and the subjects parked in the
   * round, all behind the lease CAS.
   */
  async mark(batch: readonly StoredEvent[], base: bigint, epoch: number, parked: readonly Parked[] = []): Promise<void> {
    const client = await this.o.pool.connect();
    try {
      await client.query("BEGIN");
      const next = base + BigInt(batch.length);
      const t0 = performance.now();
      const last = new Map<string, bigint>();
      for (const r of batch) last.set(r.subjectId, r.sequence);
      // One statement: the lease compare-and-set gates every other write (each refers to
      // its result), and the notification goes out at commit.
      const { rows } = await client.query<{ leased: string; marked: string }>(
        `WITH lease AS (
           UPDATE relay_leases SET position = $4, expires_at = now() + $6 * interval '1 millisecond'
            WHERE name = $1 AND holder = $2 AND epoch = $3 AND position = $5 AND expires_at > now()
            RETURNING 1
         ), marked AS (
           -- o.seq = ANY lets the planner reach the rows by primary key instead of hashing the table.
           UPDATE outbox_events o SET position = $5::bigint + v.ord, published_at = now()
             FROM unnest($7::bigint[]) WITH ORDINALITY AS v(seq, ord)
            WHERE o.seq = v.seq AND o.seq = ANY($7::bigint[]) AND o.position IS NULL AND EXISTS (SELECT 1 FROM lease)
            RETURNING 1
         ), cursors AS (
           INSERT INTO relay_subject_cursors (subject_id, sequence)
           SELECT * FROM unnest($8::uuid[], $9::bigint[]) WHERE EXISTS (SELECT 1 FROM lease)
           ON CONFLICT (subject_id) DO UPDATE SET sequence = EXCLUDED.sequence
           RETURNING 1
         ), parked AS (
           INSERT INTO relay_parked_subjects (subject_id, subject_type, directory_id, event_id, sequence, type, reason)
           SELECT * FROM unnest($11::uuid[], $12::text[], $13::uuid[], $14::uuid[], $15::bigint[], $16::text[], $17::text[])
            WHERE EXISTS (SELECT 1 FROM lease)
           ON CONFLICT (subject_id) DO NOTHING
           RETURNING 1
         )
         SELECT (SELECT count(*) FROM lease)::text AS leased, (SELECT count(*) FROM marked)::text AS marked,
                (SELECT count(*) FROM cursors) AS cursors,
                CASE WHEN EXISTS (SELECT 1 FROM lease) THEN pg_notify($10, $4::text) END AS notified`,
        [
          this.leaseName,
          this.holder,
          epoch,
          next.toString(),
          base.toString(),
          this.o.leaseMs,
          batch.map((r) => r.seq.toString()),
          [...last.keys()],
          [...last.values()].map(String),
          EVENTS_CHANNEL,
          parked.map((p) => p.event.subjectId),
          parked.map((p) => p.event.subjectType),
          parked.map((p) => p.event.directoryId),
          parked.map((p) => p.event.id),
          parked.map((p) => p.event.sequence.toString()),
          parked.map((p) => p.event.type),
          parked.map((p) => p.reason.slice(0, MAX_REASON_LENGTH)),
        ],
      );
      if (rows[0]?.leased !== "1") {
        await client.query("ROLLBACK");
        throw new FencedError(`relay ${this.holder} (epoch ${epoch}) no longer holds the lease at position ${base}`);
      }
      if (rows[0]?.marked !== String(batch.length)) {
        await client.query("ROLLBACK");
        throw new Error(`marking published: expected ${batch.length} rows, matched ${rows[0]?.marked}`);
      }
      await client.query("COMMIT");
      this.position = next;
      if (epoch === this.epoch && this.leader) this.deadline = Math.max(this.deadline, t0 + this.o.leaseMs - this.margin);
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  /**
   * Waits for the batch being marked, if any. A fenced mark steps down; any other failure is
   * thrown. Either way that batch's rows stay unpublished and are sent again.
   */
  async settle(): Promise<boolean> {
    const pending = this.inflight;
    if (!pending) return true;
    this.inflight = undefined;
    try {
      await pending.marking;
      return true;
    } catch (error) {
      if (error instanceof FencedError) {
        this.m.fencedTotal++;
        this.stepDown(error.message);
        return false;
      }
      throw error;
    }
  }

  /**
   * One round as leader: choose a batch, publish it (one awaited send at a time), mark it.
   * Pipelined (the run loop), the mark of this batch runs while the next batch is read and
   * sent; the next mark waits for it, so positions stay gap-free and in order. Not
   * pipelined, the batch is marked before step() returns.
   */
  async step(pipelined = false): Promise<StepResult> {
    if (!this.isLeader) {
      await this.settle().catch(() => {});
      return { published: 0, held: 0, fenced: true };
    }
    const epoch = this.epoch;
    const prior = this.inflight;
    const base = prior ? prior.nextBase : this.position;
    const rows = (await this.candidates(prior?.seqs)).map((r) => {
      const sent = prior?.last.get(r.subjectId);
      return sent !== undefined && sent > r.cursor ? { ...r, cursor: sent } : r;
    });
    const { batch, held } = Relay.plan(rows, this.o.batchSize);
    this.m.heldSubjects = held;
    if (batch.length === 0) {
      const ok = await this.settle();
      return { published: 0, held, fenced: !ok };
    }
    await this.o.beforePublish?.(batch);
    // The lease may have lapsed while we read (or were paused): publish nothing then.
    if (!this.isLeader || epoch !== this.epoch) {
      await this.settle().catch(() => {});
      this.stepDown("lease deadline passed before publishing");
      this.m.fencedTotal++;
      return { published: 0, held, fenced: true };
    }
    let sent: StoredEvent[];
    let parked: Parked[];
    try {
      ({ sent, parked } = await this.send(batch, base, epoch));
    } catch (error) {
      await this.settle().catch(() => {});
      throw new BrokerError("publishing to Kafka failed", { cause: error });
    }
    const ackedAt = Date.now();
    if (!(await this.settle())) return { published: 0, held, fenced: true };
    const last = new Map<string, bigint>();
    for (const r of sent) last.set(r.subjectId, r.sequence);
    const marking = this.mark(sent, base, epoch, parked).then(() => {
      this.m.publishedTotal += sent.length;
      this.m.batchesTotal++;
      if (sent.length > 0) this.o.observer?.published(sent, ackedAt);
      if (parked.length > 0) this.reportParked(parked);
    });
    marking.catch(() => {}); // observed by settle()
    this.inflight = { seqs: sent.map((r) => r.seq.toString()), last, nextBase: base + BigInt(sent.length), marking };
    // Parks are settled at once: the next round must not pick a parked subject's event again.
    if ((!pipelined || parked.length > 0) && !(await this.settle())) return { published: 0, held, fenced: true };
    return { published: sent.length, held, fenced: false };
  }

  /**
   * Sends a batch, positions following `base` in order. Events over MAX_EVENT_BYTES are not
   * sent; when the broker refuses the batch for good, it is sent again in halves, in order,
   * down to the refused events (about 2·log2(batch) sends for one). A refused event parks its
   * subject: its later events in the batch are skipped, and the positions of what is sent stay
   * gap-free. Any other failure throws (the round is retried with backoff).
   */
  private async send(batch: readonly StoredEvent[], base: bigint, epoch: number): Promise<{ sent: StoredEvent[]; parked: Parked[] }> {
    const parked = new Map<string, Parked>();
    const kept: StoredEvent[] = [];
    const messages: OutboundMessage[] = [];
    for (const row of batch) {
      if (parked.has(row.subjectId)) continue;
      const ms = this.messages(row, base + BigInt(kept.length) + 1n);
      const bytes = Math.max(...ms.map((m) => m.value?.byteLength ?? 0));
      if (bytes > MAX_EVENT_BYTES) {
        parked.set(row.subjectId, { event: row, reason: `event of ${bytes} bytes is over the ${MAX_EVENT_BYTES}-byte bound` });
        continue;
      }
      kept.push(row);
      messages.push(...ms);
    }
    let refusal: PermanentPublishError;
    try {
      await this.o.publisher.publish(messages);
      return { sent: kept, parked: [...parked.values()] };
    } catch (error) {
      if (!(error instanceof PermanentPublishError)) throw error;
      refusal = error;
    }
    // Some of the batch may have been acknowledged already: sent again, they are duplicates
    // that consumers drop by event id (at-least-once, as after a crash).
    const sent: StoredEvent[] = [];
    const bisect = async (part: readonly StoredEvent[]): Promise<void> => {
      const rows = part.filter((r) => !parked.has(r.subjectId)); // a subject parked on the left stops here
      if (rows.length === 0) return;
      if (!this.isLeader || epoch !== this.epoch) throw new FencedError(`relay ${this.holder} lost its lease while looking for a refused event`);
      try {
        await this.o.publisher.publish(rows.flatMap((r, i) => this.messages(r, base + BigInt(sent.length + i) + 1n)));
        sent.push(...rows);
        return;
      } catch (error) {
        if (!(error instanceof PermanentPublishError)) throw error;
        if (rows.length === 1) {
          parked.set(rows[0]!.subjectId, { event: rows[0]!, reason: error.message });
          return;
        }
      }
      const half = Math.ceil(rows.length / 2);
      await bisect(rows.slice(0, half));
      await bisect(rows.slice(half));
    };
    // The whole batch was just refused: start from its halves.
    if (kept.length === 1) {
      parked.set(kept[0]!.subjectId, { event: kept[0]!, reason: refusal.message });
    } else {
      const half = Math.ceil(kept.length / 2);
      await bisect(kept.slice(0, half));
      await bisect(kept.slice(half));
    }
    return { sent, parked: [...parked.values()] };
  }

  /** Logs each parked subject once (ids and reason, never the payload). */
  private reportParked(parked: readonly Parked[]): void {
    this.m.parkedTotal += parked.length;
    this.o.observer?.parked?.(parked.length);
    for (const { event, reason } of parked) {
      this.o.logger.error(
        { subjectId: event.subjectId, subjectType: event.subjectType, directoryId: event.directoryId, eventId: event.id, sequence: event.sequence.toString(), type: event.type, reason: reason.slice(0, MAX_REASON_LENGTH) },
        "relay parked a subject: the broker refused one of its events for good; its events wait until `roster outbox unpark`",
      );
    }
  }

  // ----------------------------------------------------------------------- housekeeping ---

  /**
   * Deletes published rows older than the replay window, oldest position first, in small
   * batches. Each batch records, in the same statement, how far each directory's log now
   * starts (event_log_floors), so EventService can tell a reader that it fell behind.
   */
  async cleanup(): Promise<number> {
    let total = 0;
    for (;;) {
      const { rows } = await this.o.pool.query<{ deleted: string }>(
        `WITH gone AS (
           DELETE FROM outbox_events WHERE seq IN (
             SELECT seq FROM outbox_events
              WHERE position IS NOT NULL AND published_at < now() - $1 * interval '1 millisecond'
              ORDER BY position LIMIT 5000)
           RETURNING directory_id, position, occurred_at
         ), floors AS (
           INSERT INTO event_log_floors (directory_id, pruned_through, pruned_occurred_at)
           SELECT directory_id, max(position), max(occurred_at) FROM gone GROUP BY directory_id
           ON CONFLICT (directory_id) DO UPDATE
             SET pruned_through = GREATEST(event_log_floors.pruned_through, EXCLUDED.pruned_through),
                 pruned_occurred_at = GREATEST(event_log_floors.pruned_occurred_at, EXCLUDED.pruned_occurred_at)
           RETURNING 1
         )
         SELECT (SELECT count(*) FROM gone)::text AS deleted, (SELECT count(*) FROM floors) AS floors`,
        [this.o.retentionMs],
      );
      const deleted = Number(rows[0]?.deleted ?? 0);
      total += deleted;
      if (deleted < 5000 || this.stopped) return total;
    }
  }

  async measureLag(): Promise<void> {
    const f = await lagFigures(this.o.pool);
    this.m.lagCount = f.unpublished;
    this.m.lagSeconds = f.oldestUnpublishedAgeSeconds;
    this.m.parkedEvents = f.parked;
  }

  private async housekeeping(): Promise<void> {
    await this.measureLag();
    if (this.isLeader && Date.now() - this.lastCleanup >= this.o.cleanupIntervalMs) {
      this.lastCleanup = Date.now();
      const deleted = await this.cleanup();
      if (deleted > 0) this.o.logger.info({ deleted }, "relay cleaned up published events past the replay window");
    }
    if (this.m.lagCount > 0) {
      this.o.logger.debug({ lagCount: this.m.lagCount, lagSeconds: this.m.lagSeconds, leader: this.isLeader }, "relay lag");
    }
  }

  // ------------------------------------------------------------------------------ run ---

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
      this.housekeeping().catch((error: unknown) => this.o.logger.debug({ err: error }, "relay housekeeping failed"));
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
          this.leader = false;
          if (!(await this.tryAcquire())) {
            await this.sleep(standbyPoll);
            continue;
          }
        }
        const generation = this.o.notifier?.generation;
        const result = await this.step(true);
        backoff = 100;
        if (result.published < this.o.batchSize) {
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
    await this.release();
    clearInterval(this.renewTimer);
    await this.o.notifier?.close();
    await this.o.publisher.close();
  }
}
