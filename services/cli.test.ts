// The `roster` CLI end to end: every command runs as a child process (`node services/cli.ts`)
// against a database of its own, while a real Roster (core, SCIM facade and relay, publishing
// to a real Kafka broker) serves the same database. Credentials the CLI issues work against
// the server, and what the CLI revokes or suspends stops working there within the credential
// cache's lifetime.
import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "./config.ts";
import { createLogger } from "./platform/logger.ts";
import { startRoster, type Roster } from "./app.ts";
import { createTestDatabase, queryDatabase, type TestDatabase } from "./testing/database.ts";
import { eventually, readTopics, type TopicReader } from "./testing/events.ts";
import { testKafkaBrokers, uniqueName } from "./testing/kafka.ts";
import { PATCH_OP, USER_SCHEMA, scimRequest } from "./testing/scim.ts";

const CLI = path.resolve(import.meta.dirname, "cli.ts");
const userTopic = uniqueName("roster-test-cli-users");
const groupTopic = uniqueName("roster-test-cli-groups");

let database: TestDatabase;
let roster: Roster | undefined;
let reader: TopicReader | undefined;
const serverLogs: string[] = [];
/** Everything any CLI invocation wrote, to check that no secret leaked where it should not. */
const cliTranscript: Array<{ args: string[]; stdout: string; stderr: string }> = [];

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  // The CLI prints arbitrary JSON.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly json: any;
}

function cliEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    DATABASE_URL: database.url,
    KAFKA_BROKERS: testKafkaBrokers().join(","),
    ROSTER_USER_TOPIC: userTopic,
    ROSTER_GROUP_TOPIC: groupTopic,
    KAFKA_TOPIC_PARTITIONS: "3",
    ROSTER_LOG_LEVEL: "warn",
  };
}

function cli(...args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      {
        env: cliEnv(),
        timeout: 30_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
        if (code === -1) return reject(error!);
        cliTranscript.push({ args, stdout, stderr });
        let json: unknown;
        try {
          json = stdout.trim() === "" ? undefined : JSON.parse(stdout);
        } catch {
          json = undefined;
        }
        resolve({ code, stdout, stderr, json });
      },
    );
  });
}

async function ok(...args: string[]): Promise<CliResult> {
  const result = await cli(...args);
  if (result.code !== 0) throw new Error(`roster ${args.join(" ")} exited ${result.code}: ${result.stderr}`);
  return result;
}

function url(): string {
  return roster!.server.url;
}

/** A DirectoryService call over Connect's JSON protocol; returns the HTTP status. */
async function rpcStatus(key: string, method: string, body: unknown = {}): Promise<number> {
  const response = await fetch(`${url()}/roster.directory.v1.DirectoryService/${method}`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  await response.arrayBuffer();
  return response.status;
}

/** Polls until fn() returns `want`, for at most timeoutMs (the server caches credentials 2 s). */
async function until(want: number, fn: () => Promise<number>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 0;
  while (Date.now() < deadline) {
    last = await fn();
    if (last === want) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: still ${last} after ${timeoutMs} ms (wanted ${want})`);
}

beforeAll(async () => {
  database = await createTestDatabase();
  reader = await readTopics([userTopic, groupTopic]);
});

afterAll(async () => {
  await reader?.stop();
  await roster?.stop();
  await database?.drop();
});

describe("roster CLI", () => {
  let adminKey = "";
  let adminKeyId = "";
  let directoryId = "";
  let scimSecret = "";
  let scimTokenId = "";
  let userId = "";

  it("migrates and issues an admin API key that a running server accepts", async () => {
    const migrated = await ok("migrate");
    expect(migrated.json.applied).toEqual(expect.arrayContaining(["0001-initial", "0002-relay"]));
    expect((await ok("migrate")).json.applied).toEqual([]);

    const created = await ok("api-key", "create", "--name", "ops", "--scope", "admin");
    adminKey = created.json.secret;
    adminKeyId = created.json.key.id;
    expect(adminKey).toMatch(/^rst_key_/);
    // The API's names and enum spellings (proto3 JSON), as a client reads them.
    expect(created.json.key).toMatchObject({ name: "ops", scope: "API_KEY_SCOPE_ADMIN", createTime: expect.stringMatching(/^\d{4}-/) });
    expect(created.json.key).not.toHaveProperty("revokeTime");
    expect(created.json.key).not.toHaveProperty("createdAt");
    expect(created.stderr).toContain("shown once");
    expect(created.stderr).not.toContain(adminKey);

    const listed = await ok("api-key", "list");
    expect(listed.json.map((k: { id: string }) => k.id)).toContain(adminKeyId);
    expect(listed.stdout).not.toContain(adminKey);

    // A real server on the same database: the key the CLI made works there.
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        serverLogs.push(chunk.toString("utf8"));
        done();
      },
    });
    const config = loadConfig({
      DATABASE_URL: database.url,
      ROSTER_PORT: "0",
      ROSTER_ROLES: "core,scim,relay",
      ROSTER_LOG_LEVEL: "debug",
      KAFKA_BROKERS: testKafkaBrokers().join(","),
      ROSTER_USER_TOPIC: userTopic,
      ROSTER_GROUP_TOPIC: groupTopic,
      KAFKA_TOPIC_PARTITIONS: "3",
      ROSTER_RELAY_POLL_MS: "50",
    });
    roster = await startRoster(config, createLogger(config.logLevel, sink));
    expect(await rpcStatus(adminKey, "ListDirectories")).toBe(200);
    expect(await rpcStatus("rst_key_not-a-key", "ListDirectories")).toBe(401);
  });

  it("creates, reads, suspends and activates a directory; a SCIM token it issues works over SCIM", async () => {
    const created = await ok("directory", "create", "--name", "Acme", "--provider", "okta");
    directoryId = created.json.id;
    expect(created.json).toMatchObject({ name: "Acme", provider: "PROVIDER_KIND_OKTA", state: "DIRECTORY_STATE_ACTIVE", createTime: expect.stringMatching(/^\d{4}-/) });
    expect(created.json).not.toHaveProperty("createdAt");
    expect((await ok("directory", "get", directoryId)).json).toMatchObject({ id: directoryId, name: "Acme" });
    expect((await ok("directory", "list")).json.map((d: { id: string }) => d.id)).toContain(directoryId);

    const token = await ok("scim-token", "create", "--directory", directoryId, "--name", "Okta connector");
    scimSecret = token.json.secret;
    scimTokenId = token.json.token.id;
    expect(scimSecret).toMatch(/^rst_scim_/);
    const tokens = await ok("scim-token", "list", "--directory", directoryId);
    expect(tokens.json).toEqual([expect.objectContaining({ id: scimTokenId, name: "Okta connector" })]);
    expect(tokens.json[0]).not.toHaveProperty("revokeTime");
    expect(tokens.stdout).not.toContain(scimSecret);

    const user = await scimRequest(url(), scimSecret, "POST", "/Users", {
      schemas: [USER_SCHEMA],
      userName: "ada@example.com",
      active: true,
      name: { givenName: "Ada", familyName: "Lovelace" },
    });
    expect(user.status).toBe(201);
    userId = user.body.id;
    const patched = await scimRequest(url(), scimSecret, "PATCH", `/Users/${userId}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: "replace", path: "title", value: "Countess" }],
    });
    expect(patched.status).toBe(200);

    // Suspension by the CLI (another process) reaches the server within its credential cache.
    expect((await ok("directory", "suspend", directoryId)).json.state).toBe("DIRECTORY_STATE_SUSPENDED");
    await until(401, async () => (await scimRequest(url(), scimSecret, "GET", "/Users")).status, "SCIM on a suspended directory");
    expect((await ok("directory", "activate", directoryId)).json.state).toBe("DIRECTORY_STATE_ACTIVE");
    await until(200, async () => (await scimRequest(url(), scimSecret, "GET", "/Users")).status, "SCIM on a re-activated directory");
  });

  it("issues keys limited to directories, which the server holds to them", async () => {
    const other = (await ok("directory", "create", "--name", "Other", "--provider", "entra")).json.id;
    const third = (await ok("directory", "create", "--name", "Third", "--provider", "generic")).json.id;
    const limited = await ok("api-key", "create", "--name", "tenants", "--scope", "read", "--directory", directoryId, "--directory", other);
    expect(limited.json.key.directoryIds).toEqual([directoryId, other].sort());
    expect((await ok("api-key", "list")).json.find((k: { id: string }) => k.id === limited.json.key.id).directoryIds).toEqual([directoryId, other].sort());
    expect(await rpcStatus(limited.json.secret, "GetDirectory", { id: other })).toBe(200);
    expect(await rpcStatus(limited.json.secret, "GetDirectory", { id: third })).toBe(404);
  }, 60_000);

  it("shows the outbox lag draining to zero, then replays the user's events to Kafka with their ids", async () => {
    const lag = await eventually(
      async () => {
        const result = await ok("outbox", "lag");
        return result.json.unpublished === 0 && result.json.lastPublishedPosition >= 2 && result.json;
      },
      20_000,
      "outbox lag 0",
    );
    expect(lag).toMatchObject({ oldestUnpublishedAgeSeconds: 0, stuckSubjects: [], parkedEvents: 0, parkedSubjects: [] });
    expect((await ok("outbox", "parked")).json).toEqual([]);
    expect((await ok("outbox", "unpark", "--all")).json).toEqual({ unparked: [] });
    expect(lag.lastPublishedAt).not.toBeNull();
    expect(lag.leases).toEqual([
      expect.objectContaining({ name: "default", holder: roster!.relay!.relay.holder, active: true, position: lag.lastPublishedPosition }),
    ]);
    expect(lag.leases[0].epoch).toBeGreaterThanOrEqual(1);

    const stored = await queryDatabase<{ id: string; sequence: string; position: string }>(
      database.url,
      "SELECT o.id, o.sequence::text, p.position::text FROM outbox_events o JOIN event_positions p USING (seq) WHERE o.subject_id = $1 ORDER BY o.sequence",
      [userId],
    );
    expect(stored.map((r) => Number(r.sequence))).toEqual([1, 2]);
    const ids = stored.map((r) => r.id);
    const ofUser = () => reader!.messages.filter((m) => m.key === userId);
    // The relay's own publication first.
    await eventually(() => ofUser().length >= 2, 20_000, "the relay's copies");
    expect(ofUser().map((m) => m.event.id)).toEqual(ids);

    const replayed = await ok("events", "replay", "--directory", directoryId, "--subject", userId);
    expect(replayed.json).toMatchObject({ directoryId, subjectId: userId, fromSequence: 1, replayed: 2, firstSequence: 1, lastSequence: 2, unpublished: 0 });
    await eventually(() => ofUser().length >= 4, 20_000, "the replayed copies");
    const copies = ofUser().slice(2);
    expect(copies.map((m) => m.event.id)).toEqual(ids);
    expect(copies.map((m) => m.headers.ce_id)).toEqual(ids);
    expect(copies.map((m) => m.event.position.toString())).toEqual(stored.map((r) => r.position));
    expect(copies.map((m) => m.topic)).toEqual([userTopic, userTopic]);
    // Same key, same partition as the originals.
    expect(new Set(ofUser().map((m) => m.partition)).size).toBe(1);

    const partial = await ok("events", "replay", "--directory", directoryId, "--subject", userId, "--from-sequence", "2");
    expect(partial.json).toMatchObject({ replayed: 1, firstSequence: 2, lastSequence: 2 });
    await eventually(() => ofUser().length >= 5, 20_000, "the partial replay");
    expect(ofUser()[4]!.event.id).toBe(ids[1]);
  });

  it("registers, lists and deletes consumers, and lists the leavers one has not revoked", async () => {
    const registered = await ok("consumers", "register", "--directory", directoryId, "--name", "revocation-worker", "--owner", "security", "--objective", "300");
    expect(registered.json).toMatchObject({ directoryId, name: "revocation-worker", owner: "security", objectiveSeconds: 300 });
    // It answers for leavers from its registration on.
    const head = await queryDatabase<{ p: string }>(database.url, "SELECT coalesce(max(position), 0)::text AS p FROM event_positions");
    expect(registered.json.acknowledgedPosition ?? "0").toBe(head[0]!.p);
    expect((await ok("consumers", "register", "--name", "global-audit", "--owner", "ops", "--objective", "60", "--kafka-group", "audit-mirror")).json).toMatchObject({
      name: "global-audit",
      kafkaGroupId: "audit-mirror",
    });
    expect((await ok("consumers", "list", "--directory", directoryId)).json.map((c: { name: string }) => c.name)).toEqual(["revocation-worker"]);
    expect((await ok("consumers", "list")).json.map((c: { name: string }) => c.name)).toEqual(["global-audit"]);
    expect((await ok("consumers", "unrevoked", "--directory", directoryId, "--name", "revocation-worker", "--all")).json).toEqual([]);
    expect((await ok("consumers", "delete", "--name", "global-audit")).json).toEqual({ deleted: "global-audit" });
    expect((await ok("consumers", "list")).json).toEqual([]);
  });

  it("revokes the SCIM token and the API key; the server refuses them within the cache lifetime", async () => {
    const revoked = await ok("scim-token", "revoke", "--directory", directoryId, scimTokenId);
    expect(revoked.json.revokeTime).toMatch(/^\d{4}-/);
    await until(401, async () => (await scimRequest(url(), scimSecret, "GET", "/Users")).status, "SCIM with a revoked token");

    const key = await ok("api-key", "revoke", adminKeyId);
    expect(key.json).toMatchObject({ id: adminKeyId });
    expect(key.json.revokeTime).toMatch(/^\d{4}-/);
    await until(401, () => rpcStatus(adminKey, "ListDirectories"), "RPC with a revoked key");
  });

  it("reports usage and domain errors on stderr with exit status 2", async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /no command given/],
      [["frobnicate"], /unknown command "frobnicate"/],
      [["api-key", "create", "--name", "x"], /--scope is required/],
      [["api-key", "create", "--name", "x", "--scope", "root"], /--scope must be admin or read/],
      [["api-key", "revoke"], /ID is required/],
      [["api-key", "create", "--name", "x", "--scope", "read", "--directory", "not-a-uuid"], /must be a UUID/],
      [["scim-token", "list", "--directory", directoryId, "--directory", directoryId], /--directory may be given once here/],
      [["directory", "get", "not-a-uuid"], /must be a UUID/],
      [["directory", "get", "00000000-0000-4000-8000-000000000000"], /not found/],
      [["directory", "create", "--name", "X", "--provider", "ldap"], /provider must be one of/],
      [["events", "replay", "--directory", directoryId], /--subject is required/],
      [["events", "replay", "--directory", directoryId, "--subject", userId, "--from-sequence", "0"], /positive integer/],
      [["outbox", "lag", "--bogus"], /Unknown option '--bogus'/],
      [["outbox", "unpark"], /either --subject ID or --all/],
      [["outbox", "unpark", "--all", "--subject", userId], /either --subject ID or --all/],
      [["outbox", "unpark", "--subject", "x'; DROP TABLE outbox_events"], /must be a UUID/],
      [["consumers", "register", "--name", "x", "--owner", "o"], /--objective is required/],
      [["consumers", "register", "--name", "x", "--owner", "o", "--objective", "0"], /objective_seconds must be an integer from 1/],
      [["consumers", "register", "--name", "x y", "--owner", "o", "--objective", "60"], /name must be 1 to 100 characters/],
      [["consumers", "unrevoked", "--name", "nobody"], /consumer nobody not found/],
      [["serve", "--roles", "core,mailer"], /unknown role "mailer"/],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(...args)));
    results.forEach((result, i) => {
      const [args, message] = cases[i]!;
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toMatch(message);
      expect(result.stdout).toBe("");
    });
    expect((await cli("--help")).code).toBe(0);
  });

  it("serve runs the service with the roles given and stops cleanly on SIGTERM", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "roster-cli-serve-"));
    const child = spawn(process.execPath, [CLI, "serve", "--roles", "core"], {
      env: { ...cliEnv(), ROSTER_PORT: "0", ROSTER_DATA_DIR: dataDir, ROSTER_ROLES: "core,scim,relay" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      let out = "";
      child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
      const base = await eventually(() => /listening on (http:\/\/\S+)/.exec(out)?.[1], 15_000, "serve to listen");
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      // The core answers RPCs (--roles wins over ROSTER_ROLES from the environment).
      expect((await fetch(`${base}/roster.directory.v1.DirectoryService/ListDirectories`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).status).toBe(401);
      // On a real database no key is made behind the operator's back: the CLI makes them.
      await expect(stat(path.join(dataDir, "admin-api-key"))).rejects.toThrow(/ENOENT/);
      expect(out).toMatch(/api-key create/);
      expect(out).not.toMatch(/rst_key_/);
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      child.kill("SIGKILL");
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("never prints a secret except when creating it, and the server never logs one", () => {
    const secrets = [adminKey, scimSecret];
    for (const { args, stdout, stderr } of cliTranscript) {
      expect(stderr).not.toContain(adminKey);
      expect(stderr).not.toContain(scimSecret);
      const creates = args[1] === "create" && (args[0] === "api-key" || args[0] === "scim-token");
      if (!creates) for (const secret of secrets) expect(stdout).not.toContain(secret);
    }
    const logs = serverLogs.join("");
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of secrets) expect(logs).not.toContain(secret);
  });
});
