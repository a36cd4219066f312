// Registered consumers and their revocation progress, in SQL on the ORM's entity manager
// (../../platform/sql.ts).
//
// The leavers are read from the event log (publishedLeavers). Every figure over many
// leavers (an acknowledgement that revokes 100,000 of them, a check of a stalled consumer)
// is one set-based statement.
import { publishedLeavers } from "../../event-log/index.ts";
import { newId } from "../../platform/ids.ts";
import { LEAVER_TYPES, ROLES_DROPPED_TYPE, type Consumer, type ConsumerSpec } from "../domain/consumers.ts";
import type { ConsumerStore, Judgement, Revocation, UnrevokedRow } from "../application/consumers.ts";
import type { Orm } from "./database.ts";
import { sqlFor, toDate, toOptionalDate, type Sql } from "../../platform/sql.ts";

interface ConsumerRow {
  id: string;
  directory_id: string | null;
  name: string;
  owner: string;
  objective_seconds: number;
  kafka_group_id: string | null;
  acknowledged_position: string;
  acknowledged_at: Date | string | null;
  judged_through: string;
  revoked_users: string;
  revocation_seconds_sum: number;
  revocation_seconds_max: number;
  objective_missed_users: string;
  created_at: Date | string;
  updated_at: Date | string;
}

const COLUMNS = `id, directory_id, name, owner, objective_seconds, kafka_group_id, acknowledged_position::text, acknowledged_at,
  judged_through::text, revoked_users::text, revocation_seconds_sum, revocation_seconds_max, objective_missed_users::text, created_at, updated_at`;

function toConsumer(r: ConsumerRow): Consumer {
  return {
    id: r.id,
    directoryId: r.directory_id ?? undefined,
    name: r.name,
    owner: r.owner,
    objectiveSeconds: r.objective_seconds,
    kafkaGroupId: r.kafka_group_id ?? undefined,
    acknowledgedPosition: BigInt(r.acknowledged_position),
    acknowledgedAt: toOptionalDate(r.acknowledged_at),
    judgedThrough: BigInt(r.judged_through),
    revokedUsers: Number(r.revoked_users),
    revocationSecondsSum: r.revocation_seconds_sum,
    revocationSecondsMax: r.revocation_seconds_max,
    objectiveMissedUsers: Number(r.objective_missed_users),
    createdAt: toDate(r.created_at),
    updatedAt: toDate(r.updated_at),
  };
}

/** A consumer's scope as SQL over a uuid parameter that is NULL for the global scope. */
const inScope = (param: string) => `directory_id IS NOT DISTINCT FROM ${param}::uuid`;

/** The leavers a consumer answers for, between two positions (the event log reads them). */
function leavers(params: { directory: string; after: string; through?: string }): string {
  return publishedLeavers({ types: LEAVER_TYPES, rolesDroppedType: ROLES_DROPPED_TYPE, ...params });
}

export class ConsumerRepository implements ConsumerStore {
  private readonly orm: Orm;
  constructor(orm: Orm) {
    this.orm = orm;
  }

  /** Statements in one transaction of their own. */
  private transact<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    return this.orm.em.fork().transactional((em) => fn(sqlFor(em)));
  }

  /** One statement outside any transaction. */
  private get sql(): Sql {
    return sqlFor(this.orm.em.fork());
  }

  /**
   * Creates the consumer at `startPosition`, or updates the spec of the one of that name.
   * Returns undefined when the scope already holds `maxPerScope` others.
   */
  async register(spec: ConsumerSpec, startPosition: bigint, now: Date, maxPerScope: number): Promise<Consumer | undefined> {
    return this.transact(async (sql) => {
      // One registration per scope at a time, so the count below cannot be raced past.
      await sql("SELECT pg_advisory_xact_lock(hashtext('roster.consumers'), hashtext($1))", [spec.directoryId ?? "global"]);
      const [updated] = await sql<ConsumerRow>(
        `UPDATE consumers SET owner = $3, objective_seconds = $4, kafka_group_id = $5, updated_at = $6
          WHERE ${inScope("$1")} AND name = $2 RETURNING ${COLUMNS}`,
        [spec.directoryId ?? null, spec.name, spec.owner, spec.objectiveSeconds, spec.kafkaGroupId ?? null, now],
      );
      if (updated) return toConsumer(updated);
      const counted = await sql<{ n: number }>(`SELECT count(*)::int AS n FROM consumers WHERE ${inScope("$1")}`, [spec.directoryId ?? null]);
      if ((counted[0]?.n ?? 0) >= maxPerScope) return undefined;
      const rows = await sql<ConsumerRow>(
        `INSERT INTO consumers (id, directory_id, name, owner, objective_seconds, kafka_group_id, acknowledged_position, judged_through, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $8) RETURNING ${COLUMNS}`,
        [newId(), spec.directoryId ?? null, spec.name, spec.owner, spec.objectiveSeconds, spec.kafkaGroupId ?? null, startPosition.toString(), now],
      );
      return toConsumer(rows[0]!);
    });
  }

  async get(directoryId: string | undefined, name: string): Promise<Consumer | undefined> {
    const [row] = await this.sql<ConsumerRow>(`SELECT ${COLUMNS} FROM consumers WHERE ${inScope("$1")} AND name = $2`, [directoryId ?? null, name]);
    return row && toConsumer(row);
  }

  async list(directoryId: string | undefined, limit: number): Promise<Consumer[]> {
    const rows = await this.sql<ConsumerRow>(`SELECT ${COLUMNS} FROM consumers WHERE ${inScope("$1")} ORDER BY name LIMIT $2`, [directoryId ?? null, limit]);
    return rows.map(toConsumer);
  }

  /** Every consumer, a page at a time by id (the objective check). */
  async page(afterId: string | undefined, limit: number): Promise<Consumer[]> {
    const rows = await this.sql<ConsumerRow>(
      `SELECT ${COLUMNS} FROM consumers WHERE $1::uuid IS NULL OR id > $1::uuid ORDER BY id LIMIT $2`,
      [afterId ?? null, limit],
    );
    return rows.map(toConsumer);
  }

  async delete(directoryId: string | undefined, name: string): Promise<boolean> {
    const deleted = await this.sql(`DELETE FROM consumers WHERE ${inScope("$1")} AND name = $2 RETURNING id`, [directoryId ?? null, name]);
    return deleted.length > 0;
  }

  /**
   * Moves the consumer's acknowledged position to `position` at `now` (never back), and
   * measures the leavers it revokes: their latencies bucketed by `bounds` in the same
   * statement, however many they are. Undefined when the consumer no longer exists.
   */
  async acknowledge(id: string, position: bigint, now: Date, bounds: readonly number[]): Promise<Revocation | undefined> {
    return this.transact(async (sql) => {
      const locked = await sql<ConsumerRow>(`SELECT ${COLUMNS} FROM consumers WHERE id = $1 FOR UPDATE`, [id]);
      const current = locked[0] && toConsumer(locked[0]);
      if (!current) return undefined;
      if (position <= current.acknowledgedPosition) return { consumer: current, revoked: 0, buckets: new Map(), secondsSum: 0, missed: 0 };
      const rows = await sql<{ n: number; sum: number; max: number; late: number; buckets: Array<[number, number]> }>(
        // A latency's bucket: how many bounds lie below it (le semantics), from width_bucket
        // over the negated bounds, ascending: n - |{b : -b <= -s}| = |{b : b < s}|.
        `WITH lat AS MATERIALIZED (
           SELECT position, greatest(extract(epoch FROM $4::timestamptz - occurred_at)::float8, 0) AS s
             FROM ${leavers({ directory: "$1", after: "$2", through: "$3" })}),
         per_bucket AS (
           SELECT cardinality($5::float8[]) - width_bucket(-s, $5::float8[]) AS i, count(*)::int AS n FROM lat GROUP BY 1)
         SELECT (SELECT count(*) FROM lat)::int AS n,
                (SELECT coalesce(sum(s), 0) FROM lat) AS sum,
                (SELECT coalesce(max(s), 0) FROM lat) AS max,
                (SELECT count(*) FROM lat WHERE s > $6 AND position > $7::bigint)::int AS late,
                (SELECT coalesce(json_agg(json_build_array(i, n)), '[]'::json) FROM per_bucket) AS buckets`,
        [current.directoryId ?? null, current.acknowledgedPosition.toString(), position.toString(), now, bounds.map((b) => -b).reverse(), current.objectiveSeconds, current.judgedThrough.toString()],
      );
      const figures = rows[0]!;
      const saved = await sql<ConsumerRow>(
        `UPDATE consumers SET acknowledged_position = $2, acknowledged_at = $3, judged_through = greatest(judged_through, $2),
           revoked_users = revoked_users + $4, revocation_seconds_sum = revocation_seconds_sum + $5,
           revocation_seconds_max = greatest(revocation_seconds_max, $6), objective_missed_users = objective_missed_users + $7
          WHERE id = $1 RETURNING ${COLUMNS}`,
        [id, position.toString(), now, figures.n, figures.sum, figures.max, figures.late],
      );
      return { consumer: toConsumer(saved[0]!), revoked: figures.n, buckets: new Map(figures.buckets), secondsSum: figures.sum, missed: figures.late };
    });
  }

  /**
   * Judges the consumer's unacknowledged leavers against its objective at `now`: counts, once,
   * those newly past it, and how many are past it in all. A consumer another process is
   * judging (or acknowledging) right now is skipped: undefined.
   *
   * Positions follow publication, not commit time, so a leaver may sit at a higher position
   * than one committed after it: the judged prefix stops before the first leaver still within
   * its objective, and a later check takes the rest.
   */
  async judge(id: string, now: Date): Promise<Judgement | undefined> {
    return this.transact(async (sql) => {
      const locked = await sql<ConsumerRow>(`SELECT ${COLUMNS} FROM consumers WHERE id = $1 FOR UPDATE SKIP LOCKED`, [id]);
      const c = locked[0] && toConsumer(locked[0]);
      if (!c) return undefined;
      const deadline = new Date(now.getTime() - c.objectiveSeconds * 1000);
      const rows = await sql<{ missed: number; through: string | null; overdue: number }>(
        // The edge is an uncorrelated subquery, evaluated once whatever the statistics say.
        `WITH unacked AS MATERIALIZED (SELECT position, occurred_at FROM ${leavers({ directory: "$1", after: "$2" })}),
         missed AS (
           SELECT position FROM unacked WHERE position > $3::bigint AND occurred_at <= $4
              AND position < coalesce((SELECT min(position) FROM unacked WHERE position > $3::bigint AND occurred_at > $4), 9223372036854775807))
         SELECT (SELECT count(*) FROM missed)::int AS missed, (SELECT max(position) FROM missed)::text AS through,
                (SELECT count(*) FROM unacked WHERE occurred_at <= $4)::int AS overdue`,
        [c.directoryId ?? null, c.acknowledgedPosition.toString(), c.judgedThrough.toString(), deadline],
      );
      const figures = rows[0]!;
      if (figures.missed > 0) {
        await sql(`UPDATE consumers SET judged_through = $2, objective_missed_users = objective_missed_users + $3 WHERE id = $1`, [
          id,
          figures.through,
          figures.missed,
        ]);
      }
      return { missed: figures.missed, overdue: figures.overdue };
    });
  }

  /** The consumer's unacknowledged leavers after `after`, oldest first; only those at or before `occurredBy` when given. */
  async unrevoked(c: Consumer, after: bigint, occurredBy: Date | undefined, limit: number): Promise<UnrevokedRow[]> {
    const rows = await this.sql<{ id: string; directory_id: string; subject_id: string; type: string; position: string; occurred_at: Date | string }>(
      `SELECT id, directory_id, subject_id, type, position::text, occurred_at FROM ${leavers({ directory: "$1", after: "$2" })}
        WHERE $3::timestamptz IS NULL OR occurred_at <= $3 ORDER BY leavers.position LIMIT $4`,
      [c.directoryId ?? null, (after > c.acknowledgedPosition ? after : c.acknowledgedPosition).toString(), occurredBy ?? null, limit],
    );
    return rows.map((r) => ({ eventId: r.id, directoryId: r.directory_id, userId: r.subject_id, type: r.type, position: BigInt(r.position), occurredAt: toDate(r.occurred_at) }));
  }
}
