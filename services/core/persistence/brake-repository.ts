// The deprovisioning brake in SQL: one row per directory with a policy, and deprovision
// counts in 10-second buckets.
import type { BrakeRepository } from "../application/store.ts";
import { MAX_WINDOW_SECONDS, type Brake, type BrakeMode } from "../domain/brake.ts";
import { toOptionalDate, type Sql } from "../../platform/sql.ts";

interface BrakeRow {
  directory_id: string;
  mode: string;
  window_seconds: number;
  max_deprovisions: number;
  max_share_percent: number;
  group_wipe_percent: number;
  held_since: Date | string | null;
  held_reason: string;
  released_until: Date | string | null;
  alerted_at: Date | string | null;
  sequence: string | number;
}

const COLUMNS = `directory_id, mode, window_seconds, max_deprovisions, max_share_percent, group_wipe_percent,
  held_since, held_reason, released_until, alerted_at, sequence`;

const BUCKET_SECONDS = 10;


function toBrake(r: BrakeRow): Brake {
  return {
    directoryId: r.directory_id,
    policy: {
      mode: r.mode as BrakeMode,
      windowSeconds: r.window_seconds,
      maxDeprovisions: r.max_deprovisions,
      maxSharePercent: r.max_share_percent,
      groupWipePercent: r.group_wipe_percent,
    },
    heldSince: toOptionalDate(r.held_since),
    heldReason: r.held_reason,
    releasedUntil: toOptionalDate(r.released_until),
    alertedAt: toOptionalDate(r.alerted_at),
    sequence: Number(r.sequence),
  };
}

/** The start of at's bucket, as SQL over a timestamptz parameter. */
const bucketOf = (param: string) => `to_timestamp(floor(extract(epoch FROM ${param}::timestamptz) / ${BUCKET_SECONDS}) * ${BUCKET_SECONDS})`;

export function brakeRepository(sql: Sql): BrakeRepository {
  return {
    async get(directoryId) {
      const [row] = await sql<BrakeRow>(`SELECT ${COLUMNS} FROM deprovisioning_brakes WHERE directory_id = $1`, [directoryId]);
      return row && toBrake(row);
    },
    async getForUpdate(directoryId) {
      const [row] = await sql<BrakeRow>(`SELECT ${COLUMNS} FROM deprovisioning_brakes WHERE directory_id = $1 FOR UPDATE`, [directoryId]);
      return row && toBrake(row);
    },
    async lockEngaged(directoryId) {
      const [row] = await sql<BrakeRow>(`SELECT ${COLUMNS} FROM deprovisioning_brakes WHERE directory_id = $1 AND mode <> 'off' FOR UPDATE`, [directoryId]);
      return row && toBrake(row);
    },
    async save(b, at) {
      await sql(
        `INSERT INTO deprovisioning_brakes (${COLUMNS}, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (directory_id) DO UPDATE SET mode = $2, window_seconds = $3, max_deprovisions = $4, max_share_percent = $5,
           group_wipe_percent = $6, held_since = $7, held_reason = $8, released_until = $9, alerted_at = $10, sequence = $11, updated_at = $12`,
        [b.directoryId, b.policy.mode, b.policy.windowSeconds, b.policy.maxDeprovisions, b.policy.maxSharePercent, b.policy.groupWipePercent,
          b.heldSince, b.heldReason, b.releasedUntil, b.alertedAt, b.sequence, at],
      );
    },
    async count(directoryId, since) {
      const [row] = await sql<{ n: string | null }>(
        `SELECT sum(count) AS n FROM deprovisioning_counts WHERE directory_id = $1 AND bucket >= ${bucketOf("$2")}`,
        [directoryId, since],
      );
      return Number(row?.n ?? 0);
    },
    async record(directoryId, n, at) {
      const [row] = await sql<{ fresh: boolean }>(
        `INSERT INTO deprovisioning_counts (directory_id, bucket, count) VALUES ($1, ${bucketOf("$2")}, $3)
         ON CONFLICT (directory_id, bucket) DO UPDATE SET count = deprovisioning_counts.count + $3
         RETURNING (xmax = 0) AS fresh`,
        [directoryId, at, n],
      );
      // A new bucket: the moment to drop those no window can reach any more.
      if (row?.fresh) {
        await sql(`DELETE FROM deprovisioning_counts WHERE directory_id = $1 AND bucket < $2::timestamptz - make_interval(secs => $3)`, [
          directoryId,
          at,
          MAX_WINDOW_SECONDS + BUCKET_SECONDS,
        ]);
      }
    },
    async clearCounts(directoryId) {
      await sql(`DELETE FROM deprovisioning_counts WHERE directory_id = $1`, [directoryId]);
    },
    async countActiveUsers(directoryId) {
      const [row] = await sql<{ n: string }>(`SELECT count(*) AS n FROM users WHERE directory_id = $1 AND deleted_at IS NULL AND state = 'active'`, [directoryId]);
      return Number(row?.n ?? 0);
    },
  };
}
