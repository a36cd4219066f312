// The relay's periodic chores: measuring the backlog for the lag gauges (every relay), and,
// on the leader, deleting published events older than the replay window.
import type { Sql } from "../platform/sql.ts";
import type { Logger } from "../platform/logger.ts";
import { lagFigures, pruneReplayWindow } from "../event-log/index.ts";

/** Events deleted per statement: short transactions, whatever the backlog of old events. */
const PRUNE_BATCH = 5000;

export class Housekeeping {
  private readonly sql: Sql;
  private readonly logger: Logger;
  private readonly retentionMs: number;
  private readonly cleanupIntervalMs: number;
  private lastCleanup = 0;
  /** Unpublished rows (parked ones apart) and the age of the oldest, as last measured. */
  lagCount = 0;
  lagSeconds = 0;
  /** Rows held by parked subjects, as last measured. */
  parkedEvents = 0;

  constructor(options: { sql: Sql; logger: Logger; retentionMs: number; cleanupIntervalMs: number }) {
    this.sql = options.sql;
    this.logger = options.logger;
    this.retentionMs = options.retentionMs;
    this.cleanupIntervalMs = options.cleanupIntervalMs;
  }

  /** Deletes published events past the replay window, oldest first, in short statements. */
  async cleanup(stopped: () => boolean = () => false): Promise<number> {
    let total = 0;
    for (;;) {
      const deleted = await pruneReplayWindow(this.sql, this.retentionMs, PRUNE_BATCH);
      total += deleted;
      if (deleted < PRUNE_BATCH || stopped()) return total;
    }
  }

  async measureLag(): Promise<void> {
    const f = await lagFigures(this.sql);
    this.lagCount = f.unpublished;
    this.lagSeconds = f.oldestUnpublishedAgeSeconds;
    this.parkedEvents = f.parked;
  }

  async run(leader: boolean, stopped: () => boolean): Promise<void> {
    await this.measureLag();
    if (leader && Date.now() - this.lastCleanup >= this.cleanupIntervalMs) {
      this.lastCleanup = Date.now();
      const deleted = await this.cleanup(stopped);
      if (deleted > 0) this.logger.info({ deleted }, "relay cleaned up published events past the replay window");
    }
    if (this.lagCount > 0) this.logger.debug({ lagCount: this.lagCount, lagSeconds: this.lagSeconds, leader }, "relay lag");
  }
}
