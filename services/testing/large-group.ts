// A very large group built in SQL for tests and benchmarks (building 100,000 members over
// SCIM would take minutes): users, memberships and the group, in one transaction, as if
// their history had been published and had aged out of the replay window (subject cursors
// at their versions, no outbox rows). Everything done to it afterwards goes through the real
// entry points.
import pg from "pg";
import { MAX_MEMBER_IDS_PER_EVENT } from "../core/domain/events.ts";
import { GROUP_SCHEMA, USER_SCHEMA } from "./scim.ts";

export interface SeededGroup {
  readonly groupId: string;
  readonly memberIds: string[];
  /** The group's version: created, then its members added in parts of MAX_MEMBER_IDS_PER_EVENT. */
  readonly version: number;
}

/** Builds a group of `members` active users (each at version 2: created, then added) in a directory. */
export async function seedPublishedGroup(databaseUrl: string, directoryId: string, members: number, displayName = "Everyone"): Promise<SeededGroup> {
  const version = 1 + Math.ceil(members / MAX_MEMBER_IDS_PER_EVENT);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query("BEGIN");
    await client.query(
      `CREATE TEMP TABLE seed ON COMMIT DROP AS
       SELECT gen_random_uuid() AS id, 'member' || i || '@example.com' AS user_name, now() AS at FROM generate_series(1, $1) AS i`,
      [members],
    );
    await client.query(
      `INSERT INTO users (id, directory_id, user_name, external_id, active, state, display_name, resource, version, created_at, updated_at, deleted_at)
       SELECT id, $1, user_name, NULL, true, 'active', NULL,
              jsonb_build_object('schemas', jsonb_build_array('${USER_SCHEMA}'), 'userName', user_name, 'active', true), 2, at, at, NULL
         FROM seed`,
      [directoryId],
    );
    const { rows: groups } = await client.query<{ id: string }>(
      `INSERT INTO groups (id, directory_id, display_name, external_id, resource, member_count, version, created_at, updated_at, deleted_at)
       VALUES (gen_random_uuid(), $1, $2, NULL, jsonb_build_object('schemas', jsonb_build_array('${GROUP_SCHEMA}'), 'displayName', $2::text),
               $3, $4, now(), now(), NULL)
       RETURNING id::text`,
      [directoryId, displayName, members, version],
    );
    const groupId = groups[0]!.id;
    await client.query(`INSERT INTO memberships (group_id, user_id, directory_id, created_at) SELECT $1, id, $2, at FROM seed`, [groupId, directoryId]);
    await client.query(`INSERT INTO relay_subject_cursors (subject_id, sequence) SELECT id, 2 FROM seed UNION ALL SELECT $1::uuid, $2::bigint`, [groupId, version]);
    const { rows } = await client.query<{ id: string }>("SELECT id::text FROM seed");
    await client.query("COMMIT");
    await client.query("ANALYZE users; ANALYZE memberships; ANALYZE groups; ANALYZE relay_subject_cursors");
    return { groupId, memberIds: rows.map((r) => r.id), version };
  } finally {
    await client.end();
  }
}
