// Marking sent batches published, behind the lease, pipelined: the transaction marking
// batch N runs while batch N+1 is read and sent; the mark of N+1 waits for it, so positions
// stay gap-free and in order. A fenced mark (the lease moved on) steps the relay down.
import type { MikroORM } from "@mikro-orm/postgresql";
import { sqlFor } from "../platform/sql.ts";
import type { StoredEvent } from "../event-log/index.ts";
import { markPublished, type ParkedEvent } from "../event-log/index.ts";
import { FencedError, type RelayLease } from "./lease.ts";

/** A reason kept with a parked subject is at most this long. */
export const MAX_REASON_LENGTH = 300;

interface Inflight {
  /** Outbox rows being marked: not read again meanwhile. */
  readonly seqs: string[];
  /** Per subject, the last sequence being marked (its cursor once the mark commits). */
  readonly last: Map<string, bigint>;
  /** The position the next batch follows. */
  readonly nextBase: bigint;
  readonly marking: Promise<void>;
}

export class Marker {
  private readonly orm: MikroORM;
  private readonly lease: RelayLease;
  private inflight: Inflight | undefined;
  /** Marks refused because the lease had moved on. */
  fencedTotal = 0;

  constructor(orm: MikroORM, lease: RelayLease) {
    this.orm = orm;
    this.lease = lease;
  }

  /** What the next batch must know of the one being marked (undefined: none). */
  get pending(): Omit<Inflight, "marking"> | undefined {
    return this.inflight;
  }

  /**
   * Marks a sent batch published: positions after `base`, subject cursors, and the subjects
   * parked in the round, in one transaction behind the lease compare-and-set.
   */
  async mark(sent: readonly StoredEvent[], base: bigint, epoch: number, parked: readonly ParkedEvent[] = []): Promise<void> {
    let t0 = 0;
    // A throw inside the transaction rolls it back: nothing of a refused mark stays.
    await this.orm.em.fork().transactional(async (em) => {
      t0 = performance.now();
      const lease = { name: this.lease.name, holder: this.lease.holder, epoch, leaseMs: this.lease.leaseMs };
      const result = await markPublished(sqlFor(em), { lease, base, sent, parked: parked.map((p) => ({ ...p, reason: p.reason.slice(0, MAX_REASON_LENGTH) })) });
      if (!result.leased) throw new FencedError(`relay ${this.lease.holder} (epoch ${epoch}) no longer holds the lease at position ${base}`);
      if (result.marked !== sent.length) throw new Error(`marking published: expected ${sent.length} rows, matched ${result.marked}`);
    });
    this.lease.position = base + BigInt(sent.length);
    this.lease.extended(epoch, t0);
  }

  /** Starts marking a sent batch; `marked` runs once it committed. settle() waits for it. */
  begin(sent: readonly StoredEvent[], base: bigint, epoch: number, parked: readonly ParkedEvent[], marked: () => void): void {
    const last = new Map<string, bigint>();
    for (const r of sent) last.set(r.subjectId, r.sequence);
    const marking = this.mark(sent, base, epoch, parked).then(marked);
    marking.catch(() => {}); // observed by settle()
    this.inflight = { seqs: sent.map((r) => r.seq.toString()), last, nextBase: base + BigInt(sent.length), marking };
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
        this.fencedTotal++;
        this.lease.stepDown(error.message);
        return false;
      }
      throw error;
    }
  }
}
