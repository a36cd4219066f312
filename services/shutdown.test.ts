// Graceful shutdown on the embedded default: `node services/main.ts` with no DATABASE_URL
// (embedded Postgres in a temporary data directory), SCIM writes in flight, then SIGTERM.
// Every in-flight write answers 2xx, the audit flush lands, the process exits 0, no log line
// carries a database client, and the data is there after a restart.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { DirectoryService, ProviderKind } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { EventService } from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { startTestRoster } from "./testing/roster.ts";
import { freePort } from "./testing/ports.ts";

const IN_FLIGHT = 20;
const dataDir = await mkdtemp(path.join(os.tmpdir(), "roster-shutdown-"));

afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

interface Running {
  readonly child: ChildProcess;
  readonly url: string;
  readonly output: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startMain(env: Record<string, string>): Promise<Running> {
  const { DATABASE_URL: _external, ...inherited } = process.env;
  const child = spawn(process.execPath, ["services/main.ts"], { env: { ...inherited, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" line in 60 s:\n${output}`)), 60_000);
    const look = () => {
      const match = /Roster is listening on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on("data", look);
    void exited.then(() => reject(new Error(`exited during startup:\n${output}`)));
  });
  // The listening line comes before the admin key file is written.
  await expect.poll(() => output.includes("admin API key"), { timeout: 10_000 }).toBe(true);
  return { child, url, output: () => output, exited };
}

/**
 * A SCIM POST in flight: its headers are sent with `expect: 100-continue`, so the server's
 * "100 Continue" (`received`) proves it has the request; `finish` sends the body.
 */
function inFlightPost(url: string, secret: string, body: string): { finish: () => void; response: Promise<{ status: number; body: string }>; received: Promise<void> } {
  const target = new URL("/scim/v2/Users", url);
  const bytes = Buffer.from(body, "utf8");
  const req = http.request({
    host: target.hostname,
    port: target.port,
    path: target.pathname,
    method: "POST",
    agent: false,
    headers: { authorization: `Bearer ${secret}`, "content-type": "application/scim+json", "content-length": bytes.length, expect: "100-continue" },
  });
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on("response", (res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on("error", reject);
    });
    req.on("error", reject);
  });
  const received = new Promise<void>((resolve) => req.once("continue", () => resolve()));
  req.flushHeaders();
  return { finish: () => req.end(bytes), response, received };
}

describe("SIGTERM on the embedded default", () => {
  it("lets in-flight SCIM writes finish (all 2xx), flushes the audit, exits 0, and keeps the data", async () => {
    const env = {
      ROSTER_DATA_DIR: dataDir,
      ROSTER_EMBEDDED_PG_PORT: String(await freePort()),
      ROSTER_PORT: String(await freePort()),
      ROSTER_HOST: "127.0.0.1",
      ROSTER_ROLES: "core,scim",
      ROSTER_LOG_LEVEL: "info",
      ROSTER_SCIM_RATE_LIMIT: "0",
    };
    const first = await startMain(env);
    const adminKey = (await readFile(path.join(dataDir, "admin-api-key"), "utf8")).trim();
    const transport = (url: string) =>
      createConnectTransport({
        baseUrl: url,
        httpVersion: "1.1",
        interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${adminKey}`), next(req))],
      });
    let admin = createClient(DirectoryService, transport(first.url));
    const { directory } = await admin.createDirectory({ name: "shutdown", provider: ProviderKind.OKTA });
    const directoryId = directory!.id;
    const { secret } = await admin.createScimToken({ directoryId, name: "idp" });

    // Requests the server has received (it answered "100 Continue") when the signal arrives.
    const writes = Array.from({ length: IN_FLIGHT }, (_, i) =>
      inFlightPost(first.url, secret, JSON.stringify({ schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: `inflight-${i}@example.com`, active: true })),
    );
    await Promise.all(writes.map((w) => w.received));
    first.child.kill("SIGTERM");
    // The signal is being handled (the process still runs); then the bodies complete.
    await expect.poll(() => first.output().includes('"msg":"shutting down"'), { timeout: 5_000 }).toBe(true);
    for (const w of writes) w.finish();
    const answers = await Promise.all(writes.map((w) => w.response));
    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: IN_FLIGHT }, () => 201));
    expect(await first.exited).toEqual({ code: 0, signal: null });

    // Short log lines only: no pg client (connection settings, backend cancel key) in any.
    const log = first.output();
    expect(log).not.toMatch(/secretKey|processID|_connectionCallback/);
    expect(log).not.toContain("connection lost");
    for (const line of log.split("\n")) expect(line.length, line.slice(0, 200)).toBeLessThan(2_000);

    const second = await startMain(env);
    try {
      admin = createClient(DirectoryService, transport(second.url));
      const { users } = await admin.listUsers({ directoryId });
      expect(users.map((u) => u.userName).sort()).toEqual(writes.map((_, i) => `inflight-${i}@example.com`).sort());
      const { records } = await admin.listScimAuditRecords({ directoryId, pageSize: 100 });
      expect(records.filter((r) => r.method === "POST" && r.status === 201)).toHaveLength(IN_FLIGHT);
    } finally {
      second.child.kill("SIGTERM");
      expect(await second.exited).toEqual({ code: 0, signal: null });
    }
  }, 120_000);
});

describe("a database connection lost while idle", () => {
  it("is logged in one short line, never with the pg client (its backend cancel key)", async () => {
    const t = await startTestRoster({ ROSTER_ROLES: "core,scim,relay", ROSTER_USER_TOPIC: `roster-shutdown-${process.pid}`, ROSTER_GROUP_TOPIC: `roster-shutdown-g-${process.pid}` });
    const admin = new pg.Client({ connectionString: t.database.url });
    try {
      const { directory } = await t.client(DirectoryService).createDirectory({ name: "idle", provider: ProviderKind.OKTA });
      // An idle connection in the core's pool (EventService reads on it), and in the relay's.
      await t.client(EventService).listEvents({ directoryId: directory!.id });
      await admin.connect();
      await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
      await expect.poll(() => t.logs.join("").includes("\"database connection lost"), { timeout: 10_000 }).toBe(true);
      const lines = t.logs.join("").split("\n").filter((l) => l.includes("connection lost"));
      expect(lines.length).toBeGreaterThanOrEqual(1);
      for (const line of lines) {
        expect(line).not.toMatch(/secretKey|processID|"client"/);
        // The error's name, code, message and frames; the ~3 KB client object is what must not be there.
        expect(line.length).toBeLessThan(2_000);
      }
    } finally {
      await admin.end();
      await t.stop();
    }
  });
});
