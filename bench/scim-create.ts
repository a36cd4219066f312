// Benchmark (not a test): SCIM writes against a baseline measured in the same run.
//
//   node bench/scim-create.ts            (npm run bench:scim)        POST /Users
//   node bench/scim-create.ts patch      (npm run bench:scim-patch)  PATCH /Users/{id}
//
// The create scenario posts new users. The patch scenario deactivates random users (each
// once, from users seeded for both servers alike) with the path-less `replace
// {"active": false}` Okta and Entra send; the baseline does the same work (SELECT ... FOR
// UPDATE, UPDATE, outbox INSERT, one transaction). It then sends rounds of 20 concurrent
// PATCHes adding different members to one group, none with If-Match, to Roster alone: every
// answer must be 2xx, and their p99 is printed.
//
// Roster runs as a child process (`node services/main.ts`, roles core+scim) on a fresh
// database; the baseline (bench/baseline-server.ts: node:http + plain `pg`, the same user and
// outbox inserts in one transaction) runs as another child on the same database. Rounds
// alternate between the two so table growth and machine noise hit both alike; figures are
// medians over rounds.
//
// Figures: writes per second with 16 concurrent keep-alive connections; p50/p99 latency at
// a steady open-loop 25 requests/s; the Roster/baseline throughput ratio (target >= 0.6);
// p99 at 25 req/s (creates: target < 50 ms); the CPU each request cost the server process and
// the local Postgres server (from /proc, during the throughput rounds); and the peak RSS
// (VmHWM) of each server process.
//
// Environment: ROSTER_TEST_DATABASE_URL (the Postgres server, default local trust auth),
// BENCH_ROUNDS (default 5), BENCH_WARMUP_SECONDS (per server, before the rounds, default 20),
// BENCH_SECONDS (per throughput round, default 4),
// BENCH_LATENCY_SECONDS (per latency round, default 8), BENCH_PATCH_USERS (users seeded per
// server for the patch scenario, default 150000), BENCH_ROSTER_NODE_ARGS (extra node flags
// for the Roster child, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
import { spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { createRosterClients } from "../sdk/src/index.ts";
import { ProviderKind } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { createTestDatabase, queryDatabase } from "../services/testing/database.ts";
import { cpuMeter, fmt, median, percentile, ROOT, spawnUntil, stop } from "./support.ts";

const CONCURRENCY = 16;
const STEADY_RATE = 25;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const THROUGHPUT_SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const LATENCY_ROUNDS = Math.max(1, Math.ceil(ROUNDS / 2));
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 8);
// A service runs for hours; what it costs then is the figure. V8's code log (--log-code)
// showed TurboFan still compiling Roster's PATCH path 20 s into the load, and a 2 s warm-up
// measured Roster's server 15-25% above its settled CPU per request (the bare baseline
// settles within a second).
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 20);
const TARGET_RATIO = 0.6;
const TARGET_P99_MS = 50;
// Each user is deactivated once: enough for the warm-up and the rounds at 3,000 patches/s.
const PATCH_USERS = Number(process.env.BENCH_PATCH_USERS ?? 150_000);
const GROUP_PARALLEL = 20;
const GROUP_ROUNDS = 10;

type Scenario = "create" | "patch";
const SCENARIO: Scenario = process.argv[2] === "patch" ? "patch" : "create";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/** One request to send: method, URL and body. */
interface Call {
  readonly method: string;
  readonly url: URL;
  readonly body: string;
}

interface Target {
  readonly name: string;
  readonly child: ChildProcess;
  readonly headers: Record<string, string>;
  /** The scenario's next request to this server. */
  readonly next: () => Call;
}

// ---- child processes

/** Peak resident set size of a process, in MiB (Linux /proc VmHWM). */
async function peakRssMiB(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

// ---- load

let counter = 0;
const runId = Date.now().toString(36);

function userBody(): string {
  const n = ++counter;
  const userName = `bench-${runId}-${n}@example.com`;
  return JSON.stringify({
    schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
    userName,
    externalId: `ext-${runId}-${n}`,
    name: { givenName: "Bench", familyName: `User ${n}` },
    displayName: `Bench User ${n}`,
    emails: [{ primary: true, type: "work", value: userName }],
    locale: "en-US",
    password: "Plac3holder!",
    active: true,
  });
}

const deactivateBody = JSON.stringify({ schemas: [PATCH_OP], Operations: [{ op: "replace", value: { active: false } }] });

/** Each user once, in a random order; runs out (and says so) past the seeded count. */
function shuffled(ids: string[]): () => string {
  for (let i = ids.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  let at = 0;
  return () => {
    if (at === ids.length) throw new Error(`all ${ids.length} seeded users were patched: raise BENCH_PATCH_USERS`);
    return ids[at++]!;
  };
}

const expected = (method: string) => (method === "POST" ? 201 : 200);

function send(target: Target, agent: http.Agent, call: Call = target.next()): Promise<{ status: number; ms: number }> {
  const { method, url, body } = call;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method, agent, headers: { ...target.headers, "content-type": "application/scim+json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** Closed loop: CONCURRENCY workers, each sending its next request when the last answered. */
async function throughput(target: Target, seconds: number): Promise<{ perSecond: number; ok: number; errors: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const deadline = performance.now() + seconds * 1000;
  let ok = 0;
  let errors = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        const { status } = await send(target, agent);
        if (status === expected(SCENARIO === "create" ? "POST" : "PATCH")) ok++;
        else errors++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  return { perSecond: ok / elapsed, ok, errors };
}

/** Open loop: one request every 1/rate s whatever the answers do; latencies of all of them. */
async function steady(target: Target, rate: number, seconds: number): Promise<{ latencies: number[]; errors: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const start = performance.now();
  const pending: Array<Promise<{ status: number; ms: number }>> = [];
  for (let i = 0; i < total; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pending.push(send(target, agent));
  }
  const results = await Promise.all(pending);
  agent.destroy();
  const ok = expected(SCENARIO === "create" ? "POST" : "PATCH");
  return { latencies: results.filter((r) => r.status === ok).map((r) => r.ms), errors: results.filter((r) => r.status !== ok).length };
}

/** Users seeded straight into the table (active, version 1), for the patch scenario. */
async function seedUsers(databaseUrl: string, directoryId: string, n: number, prefix = "seed"): Promise<string[]> {
  const rows = await queryDatabase<{ id: string }>(
    databaseUrl,
    `INSERT INTO users (id, directory_id, user_name, external_id, active, state, display_name, resource, version, created_at, updated_at, deleted_at)
     SELECT gen_random_uuid(), $1, $3 || '-' || i || '@example.com', $3 || '-' || i, true, 'active', $3 || ' ' || i,
            jsonb_build_object('schemas', jsonb_build_array('urn:ietf:params:scim:schemas:core:2.0:User'), 'userName', $3 || '-' || i || '@example.com',
              'externalId', $3 || '-' || i, 'displayName', $3 || ' ' || i, 'active', true),
            1, now(), now(), NULL
     FROM generate_series(1, $2::int) AS i
     RETURNING id`,
    [directoryId, n, prefix],
  );
  await queryDatabase(databaseUrl, "ANALYZE users");
  return rows.map((r) => r.id);
}

/** Rounds of GROUP_PARALLEL concurrent PATCHes, each adding another member to one new group. */
async function groupRounds(baseUrl: string, headers: Record<string, string>, members: () => string): Promise<{ latencies: number[]; statuses: Map<number, number> }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: GROUP_PARALLEL });
  const target = { headers } as Target;
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  for (let round = 0; round < GROUP_ROUNDS; round++) {
    const group = await fetch(`${baseUrl}/Groups`, {
      method: "POST",
      headers: { ...headers, "content-type": "application/scim+json" },
      body: JSON.stringify({ schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: `bench group ${runId} ${round}` }),
    });
    const { id } = (await group.json()) as { id: string };
    const url = new URL(`${baseUrl}/Groups/${id}`);
    const results = await Promise.all(
      Array.from({ length: GROUP_PARALLEL }, () =>
        send(target, agent, { method: "PATCH", url, body: JSON.stringify({ schemas: [PATCH_OP], Operations: [{ op: "add", path: "members", value: [{ value: members() }] }] }) }),
      ),
    );
    for (const r of results) {
      latencies.push(r.ms);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    }
  }
  agent.destroy();
  return { latencies, statuses };
}

// ---- main

async function main(): Promise<void> {
  const began = performance.now();
  const database = await createTestDatabase();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "roster-bench-"));
  const children: ChildProcess[] = [];
  try {
    // The admin key comes from the CLI, as an operator makes one on a real database.
    const cli = spawnSync(process.execPath, ["services/cli.ts", "api-key", "create", "--name", "bench", "--scope", "admin"], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: database.url },
      encoding: "utf8",
    });
    if (cli.status !== 0) throw new Error(`roster api-key create failed: ${cli.stderr}`);
    const adminKey = (JSON.parse(cli.stdout) as { secret: string }).secret;
    const nodeArgs = (process.env.BENCH_ROSTER_NODE_ARGS ?? "").split(" ").filter((a) => a !== "");
    const roster = await spawnUntil(
      [...nodeArgs, "services/main.ts"],
      // The per-directory rate limit is off: this measures the create path, not the limiter.
      { DATABASE_URL: database.url, ROSTER_PORT: "0", ROSTER_ROLES: "core,scim", ROSTER_LOG_LEVEL: "warn", ROSTER_DATA_DIR: dataDir, ROSTER_SCIM_RATE_LIMIT: "0" },
      /Roster is listening on (http:\/\/\S+)/,
    );
    children.push(roster.child);
    const rosterUrl = roster.match[1]!;
    const { directory: admin } = createRosterClients({ baseUrl: rosterUrl, apiKey: adminKey });
    const { directory } = await admin.createDirectory({ name: "bench", provider: ProviderKind.OKTA });
    const { secret } = await admin.createScimToken({ directoryId: directory!.id, name: "bench" });
    const { directory: baselineDirectory } = await admin.createDirectory({ name: "bench baseline", provider: ProviderKind.OKTA });

    const baseline = await spawnUntil(
      ["bench/baseline-server.ts"],
      { DATABASE_URL: database.url, BASELINE_DIRECTORY_ID: baselineDirectory!.id },
      /listening (http:\/\/\S+)/,
    );
    children.push(baseline.child);

    const scimUrl = `${rosterUrl}/scim/v2`;
    const baselineUrl = baseline.match[1]!;
    const scenarioCalls = async (directoryId: string, base: string): Promise<() => Call> => {
      if (SCENARIO === "create") return () => ({ method: "POST", url: new URL(`${base}/Users`), body: userBody() });
      const next = shuffled(await seedUsers(database.url, directoryId, PATCH_USERS));
      return () => ({ method: "PATCH", url: new URL(`${base}/Users/${next()}`), body: deactivateBody });
    };
    const rosterHeaders = { authorization: `Bearer ${secret}` };
    const targets: Target[] = [
      { name: "roster", child: roster.child, headers: rosterHeaders, next: await scenarioCalls(directory!.id, scimUrl) },
      { name: "baseline", child: baseline.child, headers: {}, next: await scenarioCalls(baselineDirectory!.id, baselineUrl) },
    ];
    const [rosterTarget, baselineTarget] = targets as [Target, Target];

    // Warm-up: JIT (see WARMUP_SECONDS), pools, plan caches.
    for (const target of targets) await throughput(target, WARMUP_SECONDS);

    const rps: Record<string, number[]> = { roster: [], baseline: [] };
    // CPU per answered request during the throughput rounds, µs: the server's, and Postgres'.
    const serverCpu: Record<string, number[]> = { roster: [], baseline: [] };
    const postgresCpu: Record<string, number[]> = { roster: [], baseline: [] };
    const errors: Record<string, number> = { roster: 0, baseline: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which goes first.
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      for (const target of order) {
        const meter = await cpuMeter(target.child.pid);
        const r = await throughput(target, THROUGHPUT_SECONDS);
        const cpu = await meter();
        rps[target.name]!.push(r.perSecond);
        if (cpu.server !== undefined && r.ok > 0) serverCpu[target.name]!.push((cpu.server / r.ok) * 1e6);
        if (cpu.postgres !== undefined && r.ok > 0) postgresCpu[target.name]!.push((cpu.postgres / r.ok) * 1e6);
        errors[target.name]! += r.errors;
      }
      process.stdout.write(`throughput round ${round + 1}/${ROUNDS}: roster ${fmt(rps.roster!.at(-1))}/s, baseline ${fmt(rps.baseline!.at(-1))}/s\n`);
    }

    const p50s: Record<string, number[]> = { roster: [], baseline: [] };
    const p99s: Record<string, number[]> = { roster: [], baseline: [] };
    const all: Record<string, number[]> = { roster: [], baseline: [] };
    for (let round = 0; round < LATENCY_ROUNDS; round++) {
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      for (const target of order) {
        const r = await steady(target, STEADY_RATE, LATENCY_SECONDS);
        p50s[target.name]!.push(percentile(r.latencies, 50));
        p99s[target.name]!.push(percentile(r.latencies, 99));
        all[target.name]!.push(...r.latencies);
        errors[target.name]! += r.errors;
      }
      process.stdout.write(
        `latency round ${round + 1}/${LATENCY_ROUNDS} at ${STEADY_RATE}/s: roster p50 ${fmt(p50s.roster!.at(-1))} p99 ${fmt(p99s.roster!.at(-1))} ms; baseline p50 ${fmt(p50s.baseline!.at(-1))} p99 ${fmt(p99s.baseline!.at(-1))} ms\n`,
      );
    }

    const rosterRss = await peakRssMiB(rosterTarget.child.pid);
    const baselineRss = await peakRssMiB(baselineTarget.child.pid);
    const rosterRps = median(rps.roster!);
    const baselineRps = median(rps.baseline!);
    const ratio = rosterRps / baselineRps;
    // Round by round too: on a shared machine both servers' rates drift between runs.
    const roundRatios = rps.roster!.map((r, i) => r / rps.baseline![i]!);
    const rosterP99 = median(p99s.roster!);
    const cpuPerRequest = (name: string) => median(serverCpu[name]!) + median(postgresCpu[name]!);
    const [count] = await queryDatabase<{ n: string }>(database.url, SCENARIO === "create" ? "SELECT count(*) AS n FROM users" : "SELECT count(*) AS n FROM users WHERE NOT active");
    const written = count?.n ?? "0";
    // Group members are users of their own, seeded for it.
    const group = SCENARIO === "patch" ? await groupRounds(scimUrl, rosterHeaders, shuffled(await seedUsers(database.url, directory!.id, GROUP_PARALLEL * GROUP_ROUNDS, "member"))) : undefined;
    const what = SCENARIO === "create" ? "POST /Users" : `PATCH /Users/{id} replace {"active": false}`;
    const unit = SCENARIO === "create" ? "creates/s" : "patches/s";

    const lines = [
      "",
      `SCIM ${what} — ${os.cpus().length} CPUs, Node ${process.version}, ${ROUNDS} throughput rounds of ${THROUGHPUT_SECONDS} s, ${LATENCY_ROUNDS} latency rounds of ${LATENCY_SECONDS} s (medians over rounds)`,
      `                          roster      baseline`,
      `${unit.padEnd(9)} (${CONCURRENCY} conns)     ${fmt(rosterRps).padStart(8)}    ${fmt(baselineRps).padStart(8)}`,
      `p50 ms at ${STEADY_RATE}/s            ${fmt(median(p50s.roster!)).padStart(8)}    ${fmt(median(p50s.baseline!)).padStart(8)}`,
      `p99 ms at ${STEADY_RATE}/s            ${fmt(rosterP99).padStart(8)}    ${fmt(median(p99s.baseline!)).padStart(8)}`,
      `p99 ms at ${STEADY_RATE}/s, pooled    ${fmt(percentile(all.roster!, 99)).padStart(8)}    ${fmt(percentile(all.baseline!, 99)).padStart(8)}`,
      `server CPU µs/request     ${fmt(median(serverCpu.roster!), 0).padStart(8)}    ${fmt(median(serverCpu.baseline!), 0).padStart(8)}`,
      `Postgres CPU µs/request   ${fmt(median(postgresCpu.roster!), 0).padStart(8)}    ${fmt(median(postgresCpu.baseline!), 0).padStart(8)}`,
      `peak RSS MiB              ${fmt(rosterRss).padStart(8)}    ${fmt(baselineRss).padStart(8)}`,
      `non-${expected(SCENARIO === "create" ? "POST" : "PATCH")} answers           ${String(errors.roster).padStart(8)}    ${String(errors.baseline).padStart(8)}`,
      "",
      `throughput ratio roster/baseline: ${ratio.toFixed(2)} (target >= ${TARGET_RATIO}) ${ratio >= TARGET_RATIO ? "OK" : "MISSED"}; round by round ${roundRatios.map((r) => r.toFixed(2)).join(", ")} (median ${median(roundRatios).toFixed(2)})`,
      `CPU per request (server + Postgres), baseline/roster: ${fmt(cpuPerRequest("baseline") / cpuPerRequest("roster"), 2)} (on a machine whose cores are all busy, the throughput ratio it predicts)`,
      SCENARIO === "create"
        ? `roster p99 at ${STEADY_RATE}/s: ${fmt(rosterP99)} ms (target < ${TARGET_P99_MS} ms) ${rosterP99 < TARGET_P99_MS ? "OK" : "MISSED"}`
        : `roster p99 at ${STEADY_RATE}/s: ${fmt(rosterP99)} ms`,
      `${SCENARIO === "create" ? "rows created" : "users deactivated"}: ${written}; run time ${((performance.now() - began) / 1000).toFixed(0)} s`,
    ];
    let groupFailed = false;
    if (group) {
      const answers = [...group.statuses].map(([status, n]) => `${n} x ${status}`).join(", ");
      groupFailed = [...group.statuses.keys()].some((status) => status < 200 || status > 299);
      lines.push(
        `${GROUP_ROUNDS} rounds of ${GROUP_PARALLEL} concurrent PATCHes adding members to one group (no If-Match): ${answers}; p50 ${fmt(percentile(group.latencies, 50))} ms, p99 ${fmt(percentile(group.latencies, 99))} ms ${groupFailed ? "MISSED (all must be 2xx)" : "OK"}`,
      );
    }
    process.stdout.write(`${lines.join("\n")}\n`);
    if (errors.roster! > 0 || errors.baseline! > 0 || groupFailed) process.exitCode = 1;
  } finally {
    for (const child of children) await stop(child);
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
