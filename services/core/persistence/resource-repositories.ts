// Users, groups, memberships and the outbox in SQL.
import type {
  GroupRepository,
  ListQuery,
  ListResult,
  MembershipRepository,
  OutboxRepository,
  UserRepository,
} from "../application/store.ts";
import { NotFoundError, UniquenessError } from "../domain/errors.ts";
import type { GroupRecord, Json, UserRecord, UserState } from "../domain/resources.ts";
import type { NewEvent } from "../domain/events.ts";
import type { AttrRef } from "../../platform/scim/ast.ts";
import type { ResourceType } from "../../platform/scim/schema.ts";
import { compileFilter, compileSortKey } from "./scim-filter-sql.ts";
import { isForeignKeyViolation, isUniqueViolation, prepared, toDate, toOptionalDate, type Sql } from "../../platform/sql.ts";

interface UserRow {
  id: string;
  directory_id: string;
  user_name: string;
  external_id: string | null;
  active: boolean;
  state: string;
  display_name: string | null;
  resource: Json;
  version: string;
  created_at: Date | string;
  updated_at: Date | string;
  deleted_at: Date | string | null;
}

interface GroupRow {
  id: string;
  directory_id: string;
  display_name: string;
  external_id: string | null;
  resource: Json;
  member_count: string;
  version: string;
  created_at: Date | string;
  updated_at: Date | string;
  deleted_at: Date | string | null;
}


const toUser = (r: UserRow): UserRecord => ({
  id: r.id,
  directoryId: r.directory_id,
  userName: r.user_name,
  externalId: r.external_id,
  active: r.active,
  state: r.state as UserState,
  displayName: r.display_name,
  resource: r.resource,
  version: Number(r.version),
  createdAt: toDate(r.created_at),
  updatedAt: toDate(r.updated_at),
  deletedAt: toOptionalDate(r.deleted_at),
});

const toGroup = (r: GroupRow): GroupRecord => ({
  id: r.id,
  directoryId: r.directory_id,
  displayName: r.display_name,
  externalId: r.external_id,
  resource: r.resource,
  memberCount: Number(r.member_count),
  version: Number(r.version),
  createdAt: toDate(r.created_at),
  updatedAt: toDate(r.updated_at),
  deletedAt: toOptionalDate(r.deleted_at),
});

/** WHERE, ORDER BY, LIMIT and OFFSET for a listing; the count reuses the WHERE. */
async function listRows<R>(
  sql: Sql,
  table: "users" | "groups",
  resourceType: ResourceType,
  directoryId: string,
  query: ListQuery,
): Promise<{ rows: R[]; total: number }> {
  const alias = table === "users" ? "u" : "g";
  const params: unknown[] = [directoryId];
  const where = [`${alias}.directory_id = $1`];
  if (!query.includeDeleted) where.push(`${alias}.deleted_at IS NULL`);
  // Unknown attributes are refused in every mode: an empty page would claim no resource
  // matches a filter this service cannot evaluate.
  if (query.filter) where.push(`(${compileFilter(query.filter, resourceType, params, { strict: true })})`);
  const countParams = [...params];
  const countWhere = [...where];
  if (query.afterId !== undefined) {
    params.push(query.afterId);
    where.push(`${alias}.id > $${params.length}`);
  }
  const order = sortClause(alias, resourceType, query.sortBy, query.descending);
  params.push(query.limit, query.offset);
  const rows = await sql<R>(
    `SELECT ${alias}.* FROM ${table} ${alias} WHERE ${where.join(" AND ")} ORDER BY ${order} LIMIT $${params.length - 1} OFFSET $${params.length}`,
    params,
  );
  const [count] = await sql<{ n: string }>(`SELECT count(*) AS n FROM ${table} ${alias} WHERE ${countWhere.join(" AND ")}`, countParams);
  return { rows, total: Number(count?.n ?? 0) };
}

function sortClause(alias: string, resourceType: ResourceType, sortBy: AttrRef | undefined, descending: boolean): string {
  const direction = descending ? "DESC" : "ASC";
  if (!sortBy) return `${alias}.id ${direction}`;
  // RFC 7644 3.4.2.3: resources without the attribute sort last ascending, first descending.
  return `${compileSortKey(sortBy, resourceType)} ${direction} NULLS ${descending ? "FIRST" : "LAST"}, ${alias}.id ASC`;
}

const USER_COLUMNS = "id, directory_id, user_name, external_id, active, state, display_name, resource, version, created_at, updated_at, deleted_at";

function userParams(u: UserRecord): unknown[] {
  return [u.id, u.directoryId, u.userName, u.externalId, u.active, u.state, u.displayName, JSON.stringify(u.resource), u.version, u.createdAt, u.updatedAt, u.deletedAt];
}

/** Runs a write of user u, turning constraint violations into domain errors. */
async function guarded<T>(u: UserRecord, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (isUniqueViolation(error, "users_directory_user_name")) throw new UniquenessError(`userName ${JSON.stringify(u.userName)} is already taken`, { cause: error });
    if (isForeignKeyViolation(error, "users_directory_id_fkey")) throw new NotFoundError(`directory ${u.directoryId} not found`, { cause: error });
    throw error;
  }
}

const EVENT_COLUMNS = "id, directory_id, subject_type, subject_id, sequence, type, payload, occurred_at, event";
const EVENT_TYPES = ["uuid", "uuid", "text", "uuid", "bigint", "text", "jsonb", "timestamptz", "bytea"];
/**
 * The events of a statement, as a FROM item over the 9 parameters from $n on (eventParams):
 * one event as plain parameters, several as arrays unnested. pg writes an array parameter
 * as a text literal, hex-encoding every stored message and escaping every payload; one
 * event, what most SCIM writes append, goes as the message's bytes and the payload's text.
 */
const EVENT_ROWS = (n: number, single: boolean) =>
  single
    ? `(VALUES (${EVENT_TYPES.map((type, i) => `$${n + i}::${type}`).join(", ")})) AS e`
    : `unnest(${EVENT_TYPES.map((type, i) => `$${n + i}::${type}[]`).join(", ")})`;

/** A statement's text for one event and for several, both registered (see EVENT_ROWS). */
function perEventCount(text: (rows: (n: number) => string) => string): (events: readonly NewEvent[]) => string {
  const single = prepared(text((n) => EVENT_ROWS(n, true)));
  const several = prepared(text((n) => EVENT_ROWS(n, false)));
  return (events) => (events.length === 1 ? single : several);
}

/**
 * A new event as the published contract (roster.events.v1.Event, position 0), from its
 * payload as stored (JSON text): what the outbox keeps for the relay and EventService. The
 * composition root supplies it (the contract's codec lives in the transport layer).
 */
export type EncodeEvent = (event: NewEvent, payloadJson: string) => Uint8Array;

// Columns named, not u.*: a column added by a later migration must not change the result
// of a statement old processes hold prepared (Postgres refuses to run it then).
const USER_WITH_GROUPS = prepared(`SELECT ${USER_COLUMNS}, coalesce((SELECT json_agg(g ORDER BY g.display_name) FROM memberships m JOIN groups g ON g.id = m.group_id WHERE m.user_id = u.id), '[]'::json) AS groups
   FROM users u WHERE u.directory_id = $1 AND u.id = $2`);
const USER_WITH_GROUPS_SKIP_LOCKED = prepared(`${USER_WITH_GROUPS} FOR UPDATE OF u SKIP LOCKED`);
const LOCK_USER = prepared("SELECT id FROM users WHERE directory_id = $1 AND id = $2 FOR UPDATE");

/**
 * A new user and its events, unless a tombstone holds its externalId. $22: the mapping
 * version the events' canonical users assume (NULL: no check). Two index probes, in the
 * same snapshot as the insert.
 */
const INSERT_USER_WITH_EVENTS = perEventCount((rows) => `WITH inserted AS (
   INSERT INTO users (${USER_COLUMNS})
   SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12
   WHERE ($4::text IS NULL OR NOT EXISTS (
     SELECT 1 FROM users WHERE directory_id = $2 AND external_id = $4 AND deleted_at IS NOT NULL))
   AND ($22::bigint IS NULL OR (
     coalesce((SELECT version FROM mappings WHERE directory_id = $2), 0) = $22::bigint
     AND NOT EXISTS (SELECT 1 FROM remap_jobs WHERE directory_id = $2 AND state = 'running')))
   RETURNING id
 ), logged AS (
   INSERT INTO outbox_events (${EVENT_COLUMNS})
   SELECT * FROM ${rows(13)} WHERE EXISTS (SELECT 1 FROM inserted)
 )
 SELECT count(*) AS n FROM inserted`);

/**
 * A user's update and its events in one statement, written only while the guards hold: the
 * mapping at $22 with no remap running (NULL: no check), and with $23, no deprovisioning
 * brake on for the directory.
 */
const UPDATE_USER_WITH_EVENTS = perEventCount((rows) => `WITH guard AS (
   SELECT ($22::bigint IS NULL OR (
            coalesce((SELECT version FROM mappings WHERE directory_id = $2), 0) = $22::bigint
            AND NOT EXISTS (SELECT 1 FROM remap_jobs WHERE directory_id = $2 AND state = 'running'))) AS mapping_ok,
          (NOT $23::boolean OR NOT EXISTS (
            SELECT 1 FROM deprovisioning_brakes WHERE directory_id = $2 AND mode <> 'off')) AS brake_ok
 ), updated AS (
   UPDATE users SET user_name = $3, external_id = $4, active = $5, state = $6, display_name = $7, resource = $8,
     version = $9, created_at = $10, updated_at = $11, deleted_at = $12
   WHERE id = $1 AND (SELECT mapping_ok AND brake_ok FROM guard)
   RETURNING id
 ), logged AS (
   INSERT INTO outbox_events (${EVENT_COLUMNS})
   SELECT * FROM ${rows(13)} WHERE EXISTS (SELECT 1 FROM updated)
 )
 SELECT (SELECT count(*) FROM updated) AS n, mapping_ok, brake_ok FROM guard`);

export function userRepository(sql: Sql, encode: EncodeEvent): UserRepository {
  const select = "SELECT * FROM users WHERE directory_id = $1 AND id = $2";
  return {
    async insert(u) {
      await guarded(u, () =>
        sql(`INSERT INTO users (${USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, userParams(u)),
      );
    },
    async insertUnlessTombstoned(u, events, mappingVersion) {
      const params = [...userParams(u), ...eventParams(events, encode), mappingVersion ?? null];
      const rows = await guarded(u, () => sql<{ n: string }>(INSERT_USER_WITH_EVENTS(events), params));
      return Number(rows[0]?.n ?? 0) === 1;
    },
    async get(directoryId, id) {
      const [row] = await sql<UserRow>(select, [directoryId, id]);
      return row && toUser(row);
    },
    async getForUpdate(directoryId, id) {
      const [row] = await sql<UserRow>(`${select} FOR UPDATE`, [directoryId, id]);
      return row && toUser(row);
    },
    async getForUpdateWithGroups(directoryId, id) {
      // Uncontended, one round trip: the user locked with its groups. A statement that waits
      // for the lock would re-read only the locked row, its groups staying as of its start
      // (a member change committed meanwhile missed), so a held row is locked first, then read.
      let [row] = await sql<UserRow & { groups: GroupRow[] }>(USER_WITH_GROUPS_SKIP_LOCKED, [directoryId, id]);
      if (!row) {
        const [locked] = await sql<{ id: string }>(LOCK_USER, [directoryId, id]);
        if (!locked) return undefined;
        [row] = await sql<UserRow & { groups: GroupRow[] }>(USER_WITH_GROUPS, [directoryId, id]);
      }
      return row && { user: toUser(row), groups: row.groups.map(toGroup) };
    },
    async updateWithEvents(u, events, guard) {
      const params = [...userParams(u), ...eventParams(events, encode), guard.mappingVersion ?? null, guard.brakeOff];
      const [row] = await guarded(u, () => sql<{ n: string; mapping_ok: boolean; brake_ok: boolean }>(UPDATE_USER_WITH_EVENTS(events), params));
      if (Number(row?.n ?? 0) === 1) return "written";
      return row?.brake_ok === false ? "brakeOn" : "mappingMoved";
    },
    async findTombstoneForUpdate(directoryId, externalId) {
      const [row] = await sql<UserRow>(
        `SELECT * FROM users WHERE directory_id = $1 AND external_id = $2 AND deleted_at IS NOT NULL
         ORDER BY deleted_at DESC LIMIT 1 FOR UPDATE`,
        [directoryId, externalId],
      );
      return row && toUser(row);
    },
    async update(u) {
      await guarded(u, () =>
        sql(
          `UPDATE users SET user_name = $2, external_id = $3, active = $4, state = $5, display_name = $6, resource = $7,
             version = $8, updated_at = $9, deleted_at = $10 WHERE id = $1`,
          [u.id, u.userName, u.externalId, u.active, u.state, u.displayName, JSON.stringify(u.resource), u.version, u.updatedAt, u.deletedAt],
        ),
      );
    },
    async list(directoryId, query): Promise<ListResult<UserRecord>> {
      const { rows, total } = await listRows<UserRow>(sql, "users", "User", directoryId, query);
      return { items: rows.map(toUser), total };
    },
    async lockLive(directoryId, ids) {
      if (ids.length === 0) return [];
      const rows = await sql<UserRow>(
        `SELECT * FROM users WHERE directory_id = $1 AND id = ANY($2::uuid[]) AND deleted_at IS NULL ORDER BY id FOR UPDATE`,
        [directoryId, ids],
      );
      return rows.map(toUser);
    },
    async setVersions(versions, at) {
      if (versions.size === 0) return;
      await sql(
        `UPDATE users u SET version = v.version, updated_at = $3
         FROM unnest($1::uuid[], $2::bigint[]) AS v(id, version) WHERE u.id = v.id`,
        [[...versions.keys()], [...versions.values()], at],
      );
    },
    async countLive(directoryId) {
      const [row] = await sql<{ n: string }>("SELECT count(*) AS n FROM users WHERE directory_id = $1 AND deleted_at IS NULL", [directoryId]);
      return Number(row?.n ?? 0);
    },
    async lockLiveAfter(directoryId, afterId, limit) {
      const rows = await sql<UserRow>(
        `SELECT * FROM users WHERE directory_id = $1 AND deleted_at IS NULL AND ($2::uuid IS NULL OR id > $2::uuid)
         ORDER BY id LIMIT $3 FOR UPDATE`,
        [directoryId, afterId, limit],
      );
      return rows.map(toUser);
    },
  };
}

export function groupRepository(sql: Sql): GroupRepository {
  const select = "SELECT * FROM groups WHERE directory_id = $1 AND id = $2";
  return {
    async insert(g) {
      await sql(
        `INSERT INTO groups (id, directory_id, display_name, external_id, resource, member_count, version, created_at, updated_at, deleted_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [g.id, g.directoryId, g.displayName, g.externalId, JSON.stringify(g.resource), g.memberCount, g.version, g.createdAt, g.updatedAt, g.deletedAt],
      );
    },
    async get(directoryId, id) {
      const [row] = await sql<GroupRow>(select, [directoryId, id]);
      return row && toGroup(row);
    },
    async getForUpdate(directoryId, id) {
      const [row] = await sql<GroupRow>(`${select} FOR UPDATE`, [directoryId, id]);
      return row && toGroup(row);
    },
    async update(g) {
      await sql(
        `UPDATE groups SET display_name = $2, external_id = $3, resource = $4, member_count = $5, version = $6, updated_at = $7, deleted_at = $8
         WHERE id = $1`,
        [g.id, g.displayName, g.externalId, JSON.stringify(g.resource), g.memberCount, g.version, g.updatedAt, g.deletedAt],
      );
    },
    async list(directoryId, query) {
      const { rows, total } = await listRows<GroupRow>(sql, "groups", "Group", directoryId, query);
      return { items: rows.map(toGroup), total };
    },
  };
}

export function membershipRepository(sql: Sql): MembershipRepository {
  const ids = (rows: Array<{ user_id: string }>) => rows.map((r) => r.user_id);
  return {
    async add(directoryId, groupId, userIds, at) {
      if (userIds.length === 0) return [];
      return ids(
        await sql<{ user_id: string }>(
          `INSERT INTO memberships (group_id, user_id, directory_id, created_at)
           SELECT $1, u.id, $2, $4 FROM users u WHERE u.directory_id = $2 AND u.id = ANY($3::uuid[]) AND u.deleted_at IS NULL
           ON CONFLICT DO NOTHING RETURNING user_id`,
          [groupId, directoryId, userIds, at],
        ),
      );
    },
    async remove(groupId, userIds) {
      if (userIds.length === 0) return [];
      return ids(await sql<{ user_id: string }>(`DELETE FROM memberships WHERE group_id = $1 AND user_id = ANY($2::uuid[]) RETURNING user_id`, [groupId, userIds]));
    },
    async removeAllExcept(groupId, keep) {
      return ids(
        await sql<{ user_id: string }>(`DELETE FROM memberships WHERE group_id = $1 AND NOT (user_id = ANY($2::uuid[])) RETURNING user_id`, [groupId, keep]),
      );
    },
    async groupsOf(userId) {
      return (await sql<{ group_id: string }>(`SELECT group_id FROM memberships WHERE user_id = $1 ORDER BY group_id`, [userId])).map((r) => r.group_id);
    },
    async members(groupId, afterUserId, limit) {
      const rows = await sql<{ user_id: string; display_name: string | null; user_name: string; created_at: Date }>(
        `SELECT m.user_id, u.display_name, u.user_name, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.group_id = $1 AND ($2::uuid IS NULL OR m.user_id > $2::uuid) ORDER BY m.user_id LIMIT $3`,
        [groupId, afterUserId ?? null, limit],
      );
      return rows.map((r) => ({ userId: r.user_id, displayName: r.display_name, userName: r.user_name, addedAt: toDate(r.created_at) }));
    },
    async adjustCount(groupId, delta) {
      // Not count(*): on a 100,000-member group that reads the whole member index per change.
      const [row] = await sql<{ n: string }>(`UPDATE groups SET member_count = member_count + $2 WHERE id = $1 RETURNING member_count AS n`, [groupId, delta]);
      return Number(row?.n ?? 0);
    },
    async groupRefsOf(userIds) {
      const result = new Map<string, GroupRecord[]>();
      if (userIds.length === 0) return result;
      const rows = await sql<GroupRow & { user_id: string }>(
        `SELECT m.user_id, g.* FROM memberships m JOIN groups g ON g.id = m.group_id WHERE m.user_id = ANY($1::uuid[]) ORDER BY g.display_name`,
        [userIds],
      );
      for (const row of rows) {
        const list = result.get(row.user_id) ?? [];
        list.push(toGroup(row));
        result.set(row.user_id, list);
      }
      return result;
    },
  };
}

/** The parameters that insert events (EVENT_ROWS), shared by every writer of them. */
function eventParams(events: readonly NewEvent[], encode: EncodeEvent): unknown[] {
  if (events.length === 1) {
    const e = events[0]!;
    const payload = JSON.stringify(e.payload);
    return [e.id, e.directoryId, e.subjectType, e.subjectId, e.sequence, e.type, payload, e.occurredAt, encode(e, payload)];
  }
  const payloads = events.map((e) => JSON.stringify(e.payload));
  return [
    events.map((e) => e.id),
    events.map((e) => e.directoryId),
    events.map((e) => e.subjectType),
    events.map((e) => e.subjectId),
    events.map((e) => e.sequence),
    events.map((e) => e.type),
    payloads,
    events.map((e) => e.occurredAt),
    events.map((e, i) => encode(e, payloads[i]!)),
  ];
}

/**
 * Events per statement of an append. Encoding an event and serialising its parameters take
 * about 150 µs of the process's one thread, and a change can write 100,000 events (a large
 * group deleted: one per member): as one statement, that held the thread for 10 s (its
 * relay lost its lease); in statements of this many, the thread is free between them.
 */
const APPEND_CHUNK = 500;
const APPEND_EVENTS = perEventCount((rows) => `INSERT INTO outbox_events (${EVENT_COLUMNS}) SELECT * FROM ${rows(1)}`);

export function outboxRepository(sql: Sql, encode: EncodeEvent): OutboxRepository {
  return {
    async append(events: readonly NewEvent[]) {
      // In the caller's transaction, in order: the rows take ascending seqs as before.
      for (let i = 0; i < events.length; i += APPEND_CHUNK) {
        const chunk = events.slice(i, i + APPEND_CHUNK);
        await sql(APPEND_EVENTS(chunk), eventParams(chunk, encode));
      }
    },
    async headPosition(directoryId: string) {
      const [row] = await sql<{ p: string }>(
        `SELECT GREATEST(
           (SELECT max(position) FROM event_positions WHERE directory_id = $1),
           (SELECT pruned_through FROM event_log_floors WHERE directory_id = $1),
           0)::text AS p`,
        [directoryId],
      );
      return BigInt(row?.p ?? "0");
    },
  };
}
