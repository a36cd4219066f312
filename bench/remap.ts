// Benchmark (not a test): re-deriving 50,000 users after a mapping change, while SCIM-like
// writers keep updating users, against a baseline measured in the same run.
//
//   node bench/remap.ts            (npm run bench:remap)
//
// 1. Seeds an Okta directory with BENCH_USERS users (50,000) by SQL; two thirds have a
//    department with capitals ("Engineering"), one third an already lower-case one ("sales").
// 2. Baseline: BENCH_WRITERS concurrent writers run replaceUser (the core use case: one
//    transaction, user row lock, version bump, outbox event) on random users for
//    BENCH_BASELINE_SECONDS; p50/p99/max latency.
// 3. Remap: UpdateMapping lower-cases department; the job runs in the background in batches
//    of BENCH_BATCH while the same writers keep going; the job's wall time, users/s, and the
//    writers' latency during it.
// 4. Checks: exactly the users whose department had capitals got a `user.updated` from the
//    job (none of the others), no user got two, and every user's event sequence is gap-free
//    and ends at its version.
//
// Environment: ROSTER_TEST_DATABASE_URL, BENCH_USERS, BENCH_WRITERS (8), BENCH_BATCH (250),
// BENCH_BASELINE_SECONDS (5).
import { randomInt } from "node:crypto";
import { DirectoryUseCases } from "../services/core/application/directories.ts";
import { ResourceContext } from "../services/core/application/resource-context.ts";
import { getUser } from "../services/core/application/users/read.ts";
import { replaceUser } from "../services/core/application/users/replace.ts";
import { storedEventMessage } from "../services/core/transport/event-codec.ts";
import { OrmStore } from "../services/core/persistence/store.ts";
import { mappingRepositories } from "../services/mapping/persistence/mapping-repository.ts";
import { sqlFor } from "../services/platform/sql.ts";
import { createLogger } from "../services/platform/logger.ts";
import { createMapping } from "../services/mapping/transport/mapping-service.ts";
import { createMigratedDatabase } from "../services/testing/database.ts";

const USERS = Number(process.env.BENCH_USERS ?? 50_000);
const WRITERS = Number(process.env.BENCH_WRITERS ?? 8);
const BATCH = Number(process.env.BENCH_BATCH ?? 250);
const BASELINE_SECONDS = Number(process.env.BENCH_BASELINE_SECONDS ?? 5);
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const out = (line: string) => process.stdout.write(`${line}\n`);

function pct(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

async function main(): Promise<void> {
  const db = await createMigratedDatabase({ poolMax: WRITERS + 4 });
  const { orm } = db;
  try {
    const sql = sqlFor(orm.em.fork());
    const store = new OrmStore(orm, mappingRepositories, storedEventMessage);
    const directories = new DirectoryUseCases(store);
    const resources = new ResourceContext(store);
    const mapping = createMapping(store, createLogger("silent"), { batchSize: BATCH });
    const dir = (await directories.createDirectory({ name: "bench", provider: "okta", strict: false })).id;

    let t0 = performance.now();
    await sql(
      `INSERT INTO users (id, directory_id, user_name, external_id, active, state, display_name, resource, version, created_at, updated_at)
       SELECT gen_random_uuid(), $1, 'user' || i || '@example.com', 'ext-' || i, true, 'active', 'User ' || i,
         jsonb_build_object('userName', 'user' || i || '@example.com', 'externalId', 'ext-' || i, 'active', true, 'displayName', 'User ' || i,
           'name', jsonb_build_object('givenName', 'User', 'familyName', i::text),
           'emails', jsonb_build_array(jsonb_build_object('value', 'user' || i || '@example.com', 'type', 'work', 'primary', true)),
           'title', 'Engineer',
           $2::text, jsonb_build_object('department', CASE WHEN i % 3 = 0 THEN 'sales' ELSE 'Engineering' END, 'employeeNumber', i::text)),
         1, now(), now()
       FROM generate_series(1, $3::int) AS i`,
      [dir, ENTERPRISE, USERS],
    );
    await sql(
      `INSERT INTO outbox_events (id, directory_id, subject_type, subject_id, sequence, type, payload, occurred_at)
       SELECT gen_random_uuid(), directory_id, 'user', id, 1, 'user.created', '{}'::jsonb, now() FROM users WHERE directory_id = $1`,
      [dir],
    );
    await sql("ANALYZE");
    out(`seeded ${USERS} users in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const ids = (await sql<{ id: string }>("SELECT id FROM users WHERE directory_id = $1", [dir])).map((r) => r.id);
    const expected = new Set(
      (await sql<{ id: string }>(`SELECT id FROM users WHERE directory_id = $1 AND resource->$2->>'department' <> lower(resource->$2->>'department')`, [dir, ENTERPRISE])).map((r) => r.id),
    );

    // Writers: replace a random user's resource with a new title (jobTitle changes under both
    // the old and the new rules alike, so the job's change set does not depend on them).
    let writing = false;
    let writes = 0;
    const writer = async (latencies: number[]) => {
      while (writing) {
        const id = ids[randomInt(ids.length)]!;
        const { user } = await getUser(resources, dir, id);
        const start = performance.now();
        await replaceUser(resources, dir, id, { ...user.resource, title: `Engineer ${writes++}` });
        latencies.push(performance.now() - start);
      }
    };
    const runWriters = (latencies: number[]) => {
      writing = true;
      return Array.from({ length: WRITERS }, () => writer(latencies));
    };

    const baseline: number[] = [];
    const baseRuns = runWriters(baseline);
    await new Promise((r) => setTimeout(r, BASELINE_SECONDS * 1000));
    writing = false;
    await Promise.all(baseRuns);

    const during: number[] = [];
    const duringRuns = runWriters(during);
    t0 = performance.now();
    const { job } = await mapping.mapping.updateMapping(dir, {
      overrides: [{ sourcePath: `${ENTERPRISE}:department`, target: { kind: "field", field: "department" }, transforms: [{ kind: "trim" }, { kind: "lowerCase" }] }],
      roleRules: [],
    });
    await mapping.remap.idle();
    const remapMs = performance.now() - t0;
    writing = false;
    await Promise.all(duringRuns);
    const done = await mapping.mapping.getRemapJob(dir, job!.id);

    const events = await sql<{ subject_id: string; n: string }>(
      "SELECT subject_id, count(*) AS n FROM outbox_events WHERE directory_id = $1 AND payload->>'remapJobId' = $2 GROUP BY subject_id",
      [dir, job!.id],
    );
    const got = new Set(events.map((e) => e.subject_id));
    const exact = got.size === expected.size && [...expected].every((id) => got.has(id));
    const duplicates = events.filter((e) => Number(e.n) !== 1).length;
    const [gaps] = await sql<{ n: string }>(
        `SELECT count(*) AS n FROM (
           SELECT o.subject_id, count(*) AS c, min(o.sequence) AS lo, max(o.sequence) AS hi, max(u.version) AS v
           FROM outbox_events o JOIN users u ON u.id = o.subject_id WHERE o.directory_id = $1 GROUP BY o.subject_id
         ) s WHERE c <> hi - lo + 1 OR lo <> 1 OR hi <> v`,
      [dir],
    );

    out("");
    out(`remap of ${USERS} users (batch ${BATCH}, ${WRITERS} concurrent writers): ${(remapMs / 1000).toFixed(2)} s, ${Math.round(USERS / (remapMs / 1000))} users/s`);
    out(`  job: state ${done.state}, processed ${done.usersProcessed}, changed ${done.usersChanged}`);
    out(`writer latency (replaceUser, one transaction each):`);
    out(`  baseline (no remap): n=${baseline.length}  p50 ${fmt(pct(baseline, 50))}  p99 ${fmt(pct(baseline, 99))}  max ${fmt(Math.max(...baseline))}  ${Math.round(baseline.length / BASELINE_SECONDS)} writes/s`);
    out(`  during remap:        n=${during.length}  p50 ${fmt(pct(during, 50))}  p99 ${fmt(pct(during, 99))}  max ${fmt(Math.max(...during))}  ${Math.round(during.length / (remapMs / 1000))} writes/s`);
    out(`  p99 ratio during/baseline: ${(pct(during, 99) / pct(baseline, 99)).toFixed(2)}`);
    out(`events: ${got.size} users got a remap event, ${expected.size} expected; exact: ${exact}; users with more than one: ${duplicates}`);
    out(`sequences: ${Number(gaps!.n)} users with a gap or a version mismatch`);
    if (!exact || duplicates > 0 || Number(gaps!.n) > 0 || done.state !== "done") process.exitCode = 1;
  } finally {
    await db.close();
  }
}

await main();
