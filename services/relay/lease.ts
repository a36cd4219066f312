// The relay's lease: one active relay per lease name. A row in relay_leases (holder, epoch,
// expiry, last position); standbys poll and take it once expired. The local deadline
// (monotonic clock, started before the renewal was sent) lets a relay that was paused past
// its lease notice before it publishes; marking is a compare-and-set on the same row
// (see markPublished), so a deposed relay cannot move the cursor either.
import type { Sql } from "../platform/sql.ts";
import type { Logger } from "../platform/logger.ts";

export class FencedError extends Error {}

export class RelayLease {
  readonly name: string;
  readonly holder: string;
  readonly leaseMs: number;
  /** Statements outside any transaction: each one commits on its own. */
  private readonly sql: Sql;
  private readonly logger: Logger;
  private held = false;
  /** Goes up by one at every takeover. */
  epoch = 0;
  /** The last position assigned under this lease (what the next mark must find). */
  position = 0n;
  /** performance.now() after which this relay no longer trusts its lease. */
  private deadline = 0;
  private renewTimer: NodeJS.Timeout | undefined;
  /** Told about renewal failures (metrics). */
  private readonly onRenewError: (error: unknown) => void;

  constructor(options: { sql: Sql; logger: Logger; name: string; holder: string; leaseMs: number; onRenewError: (error: unknown) => void }) {
    this.sql = options.sql;
    this.logger = options.logger;
    this.name = options.name;
    this.holder = options.holder;
    this.leaseMs = options.leaseMs;
    this.onRenewError = options.onRenewError;
  }

  get isLeader(): boolean {
    return this.held && performance.now() < this.deadline;
  }

  /** True while the lease is held in `epoch` and its deadline has not passed. */
  holds(epoch: number): boolean {
    return this.isLeader && epoch === this.epoch;
  }

  private get margin(): number {
    return Math.min(this.leaseMs * 0.2, 2_000);
  }

  /** A write that extended the lease, sent at `sentAt` (performance.now()), succeeded. */
  extended(epoch: number, sentAt: number): void {
    if (epoch === this.epoch && this.held) this.deadline = Math.max(this.deadline, sentAt + this.leaseMs - this.margin);
  }

  /** Takes the lease if it is free or expired. */
  async acquire(): Promise<boolean> {
    const t0 = performance.now();
    await this.sql("INSERT INTO relay_leases (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", [this.name]);
    const rows = await this.sql<{ epoch: string; position: string }>(
      `UPDATE relay_leases SET holder = $2, epoch = epoch + 1, expires_at = now() + $3 * interval '1 millisecond'
        WHERE name = $1 AND (expires_at <= now() OR holder IS NULL OR holder = $2)
        RETURNING epoch, position`,
      [this.name, this.holder, this.leaseMs],
    );
    const row = rows[0];
    if (!row) return false;
    this.held = true;
    this.epoch = Number(row.epoch);
    this.position = BigInt(row.position);
    this.deadline = t0 + this.leaseMs - this.margin;
    this.logger.info({ holder: this.holder, epoch: this.epoch, position: this.position.toString() }, "relay became leader");
    return true;
  }

  /** Extends the lease; loses leadership if it was taken or expired. */
  async renew(): Promise<boolean> {
    if (!this.held) return false;
    const t0 = performance.now();
    const rows = await this.sql<{ position: string }>(
      `UPDATE relay_leases SET expires_at = now() + $4 * interval '1 millisecond'
        WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > now() RETURNING position`,
      [this.name, this.holder, this.epoch, this.leaseMs],
    );
    if (rows.length === 0) {
      this.stepDown("lease lost");
      return false;
    }
    this.deadline = t0 + this.leaseMs - this.margin;
    return true;
  }

  startRenewing(): void {
    clearInterval(this.renewTimer);
    this.renewTimer = setInterval(
      () => {
        this.renew().catch(this.onRenewError);
      },
      Math.max(50, Math.floor(this.leaseMs / 3)),
    );
    this.renewTimer.unref();
  }

  stepDown(reason: string): void {
    clearInterval(this.renewTimer);
    if (!this.held) return;
    this.held = false;
    this.logger.warn({ holder: this.holder, epoch: this.epoch, reason }, "relay stepped down");
  }

  /** Gives the lease up at once (graceful stop), so a standby need not wait for expiry. */
  async release(): Promise<void> {
    if (!this.held) return;
    this.stepDown("stopping");
    await this.sql("UPDATE relay_leases SET expires_at = '-infinity', holder = NULL WHERE name = $1 AND holder = $2 AND epoch = $3", [this.name, this.holder, this.epoch]).catch(() => {});
  }
}
