// Benchmark (not a test): SCIM POST /Users against a baseline measured in the same run.
//
//   node bench/scim-create.ts            (npm run bench:scim)
//
// Roster runs as a child process (`node services/main.ts`, roles core+scim) on a fresh
// database; the baseline (bench/baseline-server.ts: node:http + plain `pg`, the same user and
// outbox inserts in one transaction) runs as another child on the same database. Rounds
// alternate between the two so table growth and machine noise hit both alike; figures are
// medians over rounds.
//
// Figures: creates per second with 16 concurrent keep-alive connections; p50/p99 latency at
// a steady open-loop 25 requests/s; the Roster/baseline throughput ratio (target >= 0.6);
// p99 at 25 req/s (target < 50 ms); and the peak RSS (VmHWM) of each server process.
//
// Environment: ROSTER_TEST_DATABASE_URL (the Postgres server, default local trust auth),
// BENCH_ROUNDS (default 5), BENCH_SECONDS (per throughput round, default 4),
// BENCH_LATENCY_SECONDS (per latency round, default 8), BENCH_ROSTER_NODE_ARGS (extra node
// flags for the Roster child, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
import { spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { createRosterClients } from "../sdk/src/index.ts";
import { ProviderKind } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { createTestDatabase, queryDatabase } from "../services/testing/database.ts";
import { fmt, median, percentile, ROOT, spawnUntil, stop } from "./support.ts";

const CONCURRENCY = 16;
const STEADY_RATE = 25;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const THROUGHPUT_SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const LATENCY_ROUNDS = Math.max(1, Math.ceil(ROUNDS / 2));
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 8);
const TARGET_RATIO = 0.6;
const TARGET_P99_MS = 50;

interface Target {
  readonly name: string;
  readonly child: ChildProcess;
  /** Full URL of the create endpoint. */
  readonly createUrl: URL;
  readonly headers: Record<string, string>;
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

function post(target: Target, agent: http.Agent): Promise<{ status: number; ms: number }> {
  const body = userBody();
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      target.createUrl,
      { method: "POST", agent, headers: { ...target.headers, "content-type": "application/scim+json", "content-length": Buffer.byteLength(body) } },
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
async function throughput(target: Target, seconds: number): Promise<{ perSecond: number; errors: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const deadline = performance.now() + seconds * 1000;
  let ok = 0;
  let errors = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        const { status } = await post(target, agent);
        if (status === 201) ok++;
        else errors++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  return { perSecond: ok / elapsed, errors };
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
    pending.push(post(target, agent));
  }
  const results = await Promise.all(pending);
  agent.destroy();
  return { latencies: results.filter((r) => r.status === 201).map((r) => r.ms), errors: results.filter((r) => r.status !== 201).length };
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
    const { directory: baselineDirectory } = await admin.createDirectory({ name: "bench baseline", provider: ProviderKind.GENERIC });

    const baseline = await spawnUntil(
      ["bench/baseline-server.ts"],
      { DATABASE_URL: database.url, BASELINE_DIRECTORY_ID: baselineDirectory!.id },
      /listening (http:\/\/\S+)/,
    );
    children.push(baseline.child);

    const targets: Target[] = [
      { name: "roster", child: roster.child, createUrl: new URL(`${rosterUrl}/scim/v2/Users`), headers: { authorization: `Bearer ${secret}` } },
      { name: "baseline", child: baseline.child, createUrl: new URL(`${baseline.match[1]!}/Users`), headers: {} },
    ];
    const [rosterTarget, baselineTarget] = targets as [Target, Target];

    // Warm-up: JIT, pools, plan caches.
    for (const target of targets) await throughput(target, 2);

    const rps: Record<string, number[]> = { roster: [], baseline: [] };
    const errors: Record<string, number> = { roster: 0, baseline: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which goes first.
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      for (const target of order) {
        const r = await throughput(target, THROUGHPUT_SECONDS);
        rps[target.name]!.push(r.perSecond);
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
    const rosterP99 = median(p99s.roster!);
    const [count] = await queryDatabase<{ n: string }>(database.url, "SELECT count(*) AS n FROM users");
    const created = count?.n ?? "0";

    const lines = [
      "",
      `SCIM POST /Users — ${os.cpus().length} CPUs, Node ${process.version}, ${ROUNDS} throughput rounds of ${THROUGHPUT_SECONDS} s, ${LATENCY_ROUNDS} latency rounds of ${LATENCY_SECONDS} s (medians over rounds)`,
      `                          roster      baseline`,
      `creates/s (${CONCURRENCY} conns)     ${fmt(rosterRps).padStart(8)}    ${fmt(baselineRps).padStart(8)}`,
      `p50 ms at ${STEADY_RATE}/s            ${fmt(median(p50s.roster!)).padStart(8)}    ${fmt(median(p50s.baseline!)).padStart(8)}`,
      `p99 ms at ${STEADY_RATE}/s            ${fmt(rosterP99).padStart(8)}    ${fmt(median(p99s.baseline!)).padStart(8)}`,
      `p99 ms at ${STEADY_RATE}/s, pooled    ${fmt(percentile(all.roster!, 99)).padStart(8)}    ${fmt(percentile(all.baseline!, 99)).padStart(8)}`,
      `peak RSS MiB              ${fmt(rosterRss).padStart(8)}    ${fmt(baselineRss).padStart(8)}`,
      `non-201 answers           ${String(errors.roster).padStart(8)}    ${String(errors.baseline).padStart(8)}`,
      "",
      `throughput ratio roster/baseline: ${ratio.toFixed(2)} (target >= ${TARGET_RATIO}) ${ratio >= TARGET_RATIO ? "OK" : "MISSED"}`,
      `roster p99 at ${STEADY_RATE}/s: ${fmt(rosterP99)} ms (target < ${TARGET_P99_MS} ms) ${rosterP99 < TARGET_P99_MS ? "OK" : "MISSED"}`,
      `rows created: ${created}; run time ${((performance.now() - began) / 1000).toFixed(0)} s`,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
    if (errors.roster! > 0 || errors.baseline! > 0) process.exitCode = 1;
  } finally {
    for (const child of children) await stop(child);
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
