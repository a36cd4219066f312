// A group with 100,000 members: adding or removing one member by PATCH, and reading the
// group without its members, must cost about what they cost on a small group. The members
// are seeded in SQL (users, memberships and their events, versions and member_count kept
// consistent), then everything else goes through SCIM over real HTTP.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { ProviderKind } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { queryDatabase } from "../testing/database.ts";
import { startTestRoster, type TestRoster } from "../testing/roster.ts";
import { checkContiguous, createScimDirectory, eventsOf, GROUP_SCHEMA, patchOp, USER_SCHEMA, type ScimDirectory } from "../testing/scim.ts";

const MEMBERS = 100_000;
const ROUNDS = 7;
let t: TestRoster;
let dir: ScimDirectory;
let bigGroup: string;
let smallGroup: string;
let extra: string[];

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

/** Seeds `count` users at version 2 (created, added to the group), their memberships and events. */
async function seedMembers(directoryId: string, groupId: string, count: number): Promise<void> {
  const client = new pg.Client({ connectionString: t.database.url });
  await client.connect();
  try {
    await client.query("BEGIN");
    await client.query(
      `CREATE TEMP TABLE seed ON COMMIT DROP AS
       SELECT gen_random_uuid() AS id, 'member' || i || '@example.com' AS user_name, now() AS at FROM generate_series(1, $1) AS i`,
      [count],
    );
    await client.query(
      `INSERT INTO users (id, directory_id, user_name, external_id, active, state, display_name, resource, version, created_at, updated_at, deleted_at)
       SELECT id, $1, user_name, NULL, true, 'active', NULL,
              jsonb_build_object('schemas', jsonb_build_array('${USER_SCHEMA}'), 'userName', user_name, 'active', true), 2, at, at, NULL
       FROM seed`,
      [directoryId],
    );
    await client.query(`INSERT INTO memberships (group_id, user_id, directory_id, created_at) SELECT $1, id, $2, at FROM seed`, [groupId, directoryId]);
    const [group] = (await client.query<{ display_name: string; external_id: string | null }>("SELECT display_name, external_id FROM groups WHERE id = $1", [groupId])).rows;
    const ref = JSON.stringify({ group: { id: groupId, externalId: group!.external_id, displayName: group!.display_name } });
    await client.query(
      `INSERT INTO outbox_events (id, directory_id, subject_type, subject_id, sequence, type, payload, occurred_at)
       SELECT gen_random_uuid(), $1::uuid, 'user', id, 1, 'user.created', jsonb_build_object('user', jsonb_build_object('id', id, 'userName', user_name, 'version', 1)), at FROM seed
       UNION ALL
       SELECT gen_random_uuid(), $1::uuid, 'user', id, 2, 'user.added_to_group', $2::jsonb || jsonb_build_object('user', jsonb_build_object('id', id, 'version', 2)), at FROM seed`,
      [directoryId, ref],
    );
    const [current] = (await client.query<{ version: string }>("SELECT version FROM groups WHERE id = $1 FOR UPDATE", [groupId])).rows;
    const version = Number(current!.version) + 1;
    await client.query(
      `INSERT INTO outbox_events (id, directory_id, subject_type, subject_id, sequence, type, payload, occurred_at)
       SELECT gen_random_uuid(), $1::uuid, 'group', $2::uuid, $3::bigint, 'group.members_added', jsonb_build_object('userIds', jsonb_agg(id)), now() FROM seed`,
      [directoryId, groupId, version],
    );
    await client.query(`UPDATE groups SET member_count = member_count + $2, version = $3, updated_at = now() WHERE id = $1`, [groupId, count, version]);
    await client.query("COMMIT");
    await client.query("ANALYZE users; ANALYZE memberships; ANALYZE outbox_events");
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  t = await startTestRoster();
  dir = await createScimDirectory(t, ProviderKind.OKTA);
  bigGroup = (await dir.scim("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: "Everyone" })).body.id;
  extra = [];
  for (let i = 0; i < 3; i++) extra.push((await dir.scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: `extra${i}@example.com` })).body.id);
  smallGroup = (await dir.scim("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: "Few", members: [{ value: extra[2] }] })).body.id;
  const started = performance.now();
  await seedMembers(dir.id, bigGroup, MEMBERS);
  console.log(`seeded ${MEMBERS} members in ${Math.round(performance.now() - started)} ms`);
}, 120_000);

afterAll(async () => {
  await t?.stop();
});

async function memberCount(groupId: string): Promise<{ stored: number; actual: number; version: number }> {
  const [row] = await queryDatabase<{ stored: string; actual: string; version: string }>(
    t.database.url,
    "SELECT member_count AS stored, (SELECT count(*) FROM memberships WHERE group_id = $1) AS actual, version FROM groups WHERE id = $1",
    [groupId],
  );
  return { stored: Number(row!.stored), actual: Number(row!.actual), version: Number(row!.version) };
}

/** Adds then removes one member, timing each PATCH; checks status, count and version each time. */
async function addRemoveTimings(groupId: string, userId: string, base: number): Promise<{ add: number[]; remove: number[] }> {
  const add: number[] = [];
  const remove: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    let started = performance.now();
    const added = await dir.scim("PATCH", `/Groups/${groupId}`, patchOp({ op: "add", path: "members", value: [{ value: userId }] }));
    add.push(performance.now() - started);
    expect(added.status, added.text).toBe(204);
    started = performance.now();
    const removed = await dir.scim("PATCH", `/Groups/${groupId}`, patchOp({ op: "remove", path: `members[value eq "${userId}"]` }));
    remove.push(performance.now() - started);
    expect(removed.status, removed.text).toBe(204);
  }
  const after = await memberCount(groupId);
  expect(after).toEqual({ stored: base, actual: base, version: after.version });
  return { add, remove };
}

describe("a group with 100,000 members", () => {
  it("is stored consistently", async () => {
    const count = await memberCount(bigGroup);
    expect(count).toEqual({ stored: MEMBERS, actual: MEMBERS, version: 2 });
    const got = await dir.scim("GET", `/Groups/${bigGroup}?excludedAttributes=members`);
    expect(got.status).toBe(200);
    expect(got.body).not.toHaveProperty("members");
    expect(got.headers.get("etag")).toBe('W/"2"');
  });

  it("adds and removes one member about as fast as on a small group", async () => {
    // Warm up both paths (JIT, plan cache, connection pool).
    await addRemoveTimings(smallGroup, extra[0]!, 1);
    await addRemoveTimings(bigGroup, extra[0]!, MEMBERS);
    const small = await addRemoveTimings(smallGroup, extra[1]!, 1);
    const big = await addRemoveTimings(bigGroup, extra[1]!, MEMBERS);
    const figures = {
      smallAdd: median(small.add),
      smallRemove: median(small.remove),
      bigAdd: median(big.add),
      bigRemove: median(big.remove),
    };
    console.log("median PATCH ms", Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, Math.round(v * 10) / 10])));
    expect(figures.bigAdd).toBeLessThan(1000);
    expect(figures.bigRemove).toBeLessThan(1000);
    // Reading 100,000 members costs hundreds of ms; a delta costs what it costs on 1 member.
    expect(figures.bigAdd).toBeLessThan(Math.max(3 * figures.smallAdd, figures.smallAdd + 25));
    expect(figures.bigRemove).toBeLessThan(Math.max(3 * figures.smallRemove, figures.smallRemove + 25));

    // Every change was a fact on both sides, in sequence.
    const groupEvents = await eventsOf(t, bigGroup);
    checkContiguous(groupEvents);
    expect(groupEvents.slice(2).map((e) => e.type)).toEqual(Array.from({ length: 2 * ROUNDS * 2 }, (_, i) => (i % 2 === 0 ? "group.members_added" : "group.members_removed")));
    const userEvents = await eventsOf(t, extra[1]!);
    checkContiguous(userEvents);
    const [row] = await queryDatabase<{ version: string }>(t.database.url, "SELECT version FROM users WHERE id = $1", [extra[1]]);
    expect(Number(row!.version)).toBe(userEvents.length);
    expect((await memberCount(bigGroup)).version).toBe(groupEvents.length);
  });

  it("renames without touching members, and reads the group without members fast", async () => {
    const rename = await dir.scim("PATCH", `/Groups/${bigGroup}`, patchOp({ op: "replace", value: { id: bigGroup, displayName: "All staff" } }));
    expect(rename.status).toBe(204);
    const small: number[] = [];
    const big: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      let started = performance.now();
      expect((await dir.scim("GET", `/Groups/${smallGroup}?excludedAttributes=members`)).status).toBe(200);
      small.push(performance.now() - started);
      started = performance.now();
      const got = await dir.scim("GET", `/Groups/${bigGroup}?excludedAttributes=members`);
      big.push(performance.now() - started);
      expect(got.body.displayName).toBe("All staff");
      expect(got.text.length).toBeLessThan(2000);
    }
    console.log("median GET ms", { small: median(small), big: median(big) });
    expect(median(big)).toBeLessThan(Math.max(3 * median(small), median(small) + 25));
    const list = await dir.scim("GET", `/Groups?excludedAttributes=members&filter=${encodeURIComponent('displayName eq "All staff"')}`);
    expect(list.body.Resources).toHaveLength(1);
    expect(list.body.Resources[0]).not.toHaveProperty("members");
    expect(await memberCount(bigGroup)).toMatchObject({ stored: MEMBERS, actual: MEMBERS });
  });

  it("keeps member_count right when a member user is deleted", async () => {
    const [victim] = await queryDatabase<{ user_id: string }>(t.database.url, "SELECT user_id FROM memberships WHERE group_id = $1 LIMIT 1", [bigGroup]);
    expect((await dir.scim("DELETE", `/Users/${victim!.user_id}`)).status).toBe(204);
    expect(await memberCount(bigGroup)).toMatchObject({ stored: MEMBERS - 1, actual: MEMBERS - 1 });
    const events = await eventsOf(t, victim!.user_id);
    checkContiguous(events);
    expect(events.map((e) => e.type)).toEqual(["user.created", "user.added_to_group", "user.removed_from_group", "user.deleted"]);
  });
});
