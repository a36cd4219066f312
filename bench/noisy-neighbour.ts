// Benchmark (not a test): one directory's flood against another directory's latency.
//
//   node bench/noisy-neighbour.ts            (npm run bench:neighbour)
//
// Roster runs as a child process (`node services/main.ts`, roles core+scim) on a fresh
// database with two directories: A holds NEIGHBOUR_USERS users, B a few. Directory B sends
// cheap requests (GET /Users/{id}) one after another at a steady pace, first with the
// process otherwise idle, then while directory A floods it with FLOOD_WORKERS workers
// sending expensive list requests (GET /Users?count=...), each the next as soon as the last
// answered. Both phases run against two processes in the same run: one with the
// per-directory bound off (ROSTER_SCIM_DIRECTORY_BUDGET=0), the baseline, and one with
// the default bound. The figure is B's p99 under A's flood over B's idle p99.
//
// Environment: ROSTER_TEST_DATABASE_URL (the Postgres server, default local trust auth),
// BENCH_SECONDS (per phase, default 8), NEIGHBOUR_USERS (default 1000), FLOOD_WORKERS
// (default 48), FLOOD_COUNT (list page size, default 200).
import { spawnSync } from "node:child_process";
import http from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createRosterClients } from "../sdk/src/index.ts";
import { ProviderKind } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { createTestDatabase } from "../services/testing/database.ts";
import { fmt, percentile, ROOT, spawnUntil, stop } from "./support.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const USERS = Number(process.env.NEIGHBOUR_USERS ?? 1000);
const FLOOD_WORKERS = Number(process.env.FLOOD_WORKERS ?? 48);
const FLOOD_COUNT = Number(process.env.FLOOD_COUNT ?? 200);
// B's pace: one request every PROBE_INTERVAL_MS, the next not before the last answered.
const PROBE_INTERVAL_MS = 20;

const out = (line: string) => process.stdout.write(`${line}\n`);

function request(url: URL, agent: http.Agent, secret: string, method = "GET", body?: string): Promise<{ status: number; ms: number; text: string }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { authorization: `Bearer ${secret}` };
    if (body !== undefined) Object.assign(headers, { "content-type": "application/scim+json", "content-length": Buffer.byteLength(body) });
    const req = http.request(url, { method, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started, text: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Creates `n` users in a directory, 8 at a time, waiting out 429s. */
async function seed(base: string, secret: string, n: number, prefix: string): Promise<string[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < n) {
        const i = next++;
        const userName = `${prefix}-${i}@example.com`;
        const body = JSON.stringify({
          schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
          userName,
          name: { givenName: "Neighbour", familyName: `User ${i}` },
          displayName: `Neighbour User ${i}`,
          emails: [{ primary: true, type: "work", value: userName }],
          active: true,
        });
        for (;;) {
          const r = await request(new URL(`${base}/scim/v2/Users`), agent, secret, "POST", body);
          if (r.status === 201) {
            ids.push((JSON.parse(r.text) as { id: string }).id);
            break;
          }
          if (r.status !== 429) throw new Error(`seeding answered ${r.status}: ${r.text}`);
          await sleep(100);
        }
      }
    }),
  );
  agent.destroy();
  return ids;
}

/** B's probe: sequential cheap reads at a steady pace for `seconds`; latencies of the 200s. */
async function probe(base: string, secret: string, id: string, seconds: number): Promise<{ latencies: number[]; errors: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const url = new URL(`${base}/scim/v2/Users/${id}`);
  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + seconds * 1000;
  while (performance.now() < deadline) {
    const r = await request(url, agent, secret);
    if (r.status === 200) latencies.push(r.ms);
    else errors++;
    await sleep(Math.max(0, PROBE_INTERVAL_MS - r.ms));
  }
  agent.destroy();
  return { latencies, errors };
}

/** A's flood: FLOOD_WORKERS closed-loop workers of list requests until `signal` aborts. */
function flood(base: string, secret: string, signal: AbortSignal): Promise<{ ok: number; refused: number; seconds: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: FLOOD_WORKERS });
  let ok = 0;
  let refused = 0;
  const started = performance.now();
  return Promise.all(
    Array.from({ length: FLOOD_WORKERS }, async (_, w) => {
      let i = w;
      while (!signal.aborted) {
        const startIndex = 1 + ((i++ * 37) % Math.max(1, USERS - FLOOD_COUNT));
        const r = await request(new URL(`${base}/scim/v2/Users?count=${FLOOD_COUNT}&startIndex=${startIndex}`), agent, secret);
        if (r.status === 200) ok++;
        else if (r.status === 429) {
          refused++;
          // As an IdP honouring Retry-After would, but impatiently.
          await sleep(50);
        } else throw new Error(`flood answered ${r.status}: ${r.text.slice(0, 200)}`);
      }
    }),
  ).then(() => {
    agent.destroy();
    return { ok, refused, seconds: (performance.now() - started) / 1000 };
  });
}

interface Figures {
  readonly idleP50: number;
  readonly idleP99: number;
  readonly floodP50: number;
  readonly floodP99: number;
  readonly floodPerSecond: number;
  readonly floodRefused: number;
}

async function measure(label: string, env: Record<string, string>, databaseUrl: string, dataDir: string, secrets: { a: string; b: string }, bUser: string): Promise<Figures> {
  const roster = await spawnUntil(
    ["services/main.ts"],
    { DATABASE_URL: databaseUrl, ROSTER_PORT: "0", ROSTER_ROLES: "core,scim", ROSTER_LOG_LEVEL: "warn", ROSTER_DATA_DIR: dataDir, ...env },
    /Roster is listening on (http:\/\/\S+)/,
  );
  try {
    const base = roster.match[1]!;
    // Warm-up: JIT, pools, plan caches.
    await probe(base, secrets.b, bUser, 1);
    const warm = new AbortController();
    const warming = flood(base, secrets.a, warm.signal);
    await sleep(1_000);
    warm.abort();
    await warming;

    const idle = await probe(base, secrets.b, bUser, SECONDS);
    const stopFlood = new AbortController();
    const flooding = flood(base, secrets.a, stopFlood.signal);
    await sleep(500); // the flood at full strength before B measures
    const busy = await probe(base, secrets.b, bUser, SECONDS);
    stopFlood.abort();
    const a = await flooding;
    const figures: Figures = {
      idleP50: percentile(idle.latencies, 50),
      idleP99: percentile(idle.latencies, 99),
      floodP50: percentile(busy.latencies, 50),
      floodP99: percentile(busy.latencies, 99),
      floodPerSecond: a.ok / a.seconds,
      floodRefused: a.refused,
    };
    out(
      `${label}: B idle p50 ${fmt(figures.idleP50)} p99 ${fmt(figures.idleP99)} ms (${idle.latencies.length} requests); ` +
        `B under A's flood p50 ${fmt(figures.floodP50)} p99 ${fmt(figures.floodP99)} ms (${busy.latencies.length} requests, ${busy.errors} errors); ` +
        `A ${fmt(figures.floodPerSecond)} lists/s, ${a.refused} refused with 429`,
    );
    return figures;
  } finally {
    await stop(roster.child);
  }
}

async function main(): Promise<void> {
  const began = performance.now();
  const database = await createTestDatabase();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "roster-bench-"));
  try {
    const cli = spawnSync(process.execPath, ["services/cli.ts", "api-key", "create", "--name", "bench", "--scope", "admin"], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: database.url },
      encoding: "utf8",
    });
    if (cli.status !== 0) throw new Error(`roster api-key create failed: ${cli.stderr}`);
    const adminKey = (JSON.parse(cli.stdout) as { secret: string }).secret;

    // Seeding through a process of its own, with the rate limit off.
    const seeder = await spawnUntil(
      ["services/main.ts"],
      { DATABASE_URL: database.url, ROSTER_PORT: "0", ROSTER_ROLES: "core,scim", ROSTER_LOG_LEVEL: "warn", ROSTER_DATA_DIR: dataDir, ROSTER_SCIM_RATE_LIMIT: "0" },
      /Roster is listening on (http:\/\/\S+)/,
    );
    const base = seeder.match[1]!;
    const { directory: admin } = createRosterClients({ baseUrl: base, apiKey: adminKey });
    const secrets = { a: "", b: "" };
    for (const name of ["a", "b"] as const) {
      const { directory } = await admin.createDirectory({ name: `neighbour ${name}`, provider: ProviderKind.OKTA });
      secrets[name] = (await admin.createScimToken({ directoryId: directory!.id, name: "bench" })).secret;
    }
    await seed(base, secrets.a, USERS, "a");
    const [bUser] = await seed(base, secrets.b, 5, "b");
    await stop(seeder.child);
    out(`seeded: directory A ${USERS} users, directory B 5 users (${fmt((performance.now() - began) / 1000)} s)`);
    out(`flood: ${FLOOD_WORKERS} workers of GET /Users?count=${FLOOD_COUNT} on A; probe: B's GET /Users/{id} every ${PROBE_INTERVAL_MS} ms, ${SECONDS} s per phase`);

    const unbounded = await measure("bound off (baseline)", { ROSTER_SCIM_DIRECTORY_BUDGET: "0" }, database.url, dataDir, secrets, bUser!);
    const bounded = await measure("bound on (default)  ", {}, database.url, dataDir, secrets, bUser!);

    out("");
    out(`directory B p99 under A's flood / B idle p99: bound off ${fmt(unbounded.floodP99 / unbounded.idleP99)}x, bound on ${fmt(bounded.floodP99 / bounded.idleP99)}x`);
    out(`directory B p50 under A's flood / B idle p50: bound off ${fmt(unbounded.floodP50 / unbounded.idleP50)}x, bound on ${fmt(bounded.floodP50 / bounded.idleP50)}x`);
    out(`directory A's list throughput, bound on / off: ${fmt(bounded.floodPerSecond / unbounded.floodPerSecond, 2)}`);
    out(`(${fmt((performance.now() - began) / 1000)} s)`);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
    await database.drop();
  }
}

await main();
