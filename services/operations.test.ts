// What operators rely on, through the real server: metrics, request ids, the SCIM audit
// log, per-directory rate limits, and the SCIM facade running apart from the core.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { ApiKeyScope, DirectoryService, ProviderKind } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { loadConfig } from "./config.ts";
import { createLogger } from "./platform/logger.ts";
import { startRoster } from "./app.ts";
import { startTestRoster, type TestRoster } from "./testing/roster.ts";
import { createScimDirectory, scimRequest } from "./testing/scim.ts";
import { testKafkaBrokers } from "./testing/kafka.ts";
import { relayDatabase, startRelay } from "./relay/index.ts";
import { openOrm } from "./core/persistence/database.ts";
import { eventToPb } from "./core/transport/event-codec.ts";
import { eventually } from "./testing/events.ts";
import { queryDatabase } from "./testing/database.ts";

let t: TestRoster;

beforeAll(async () => {
  t = await startTestRoster({ ROSTER_SCIM_RATE_LIMIT: "5", ROSTER_SCIM_RATE_BURST: "5" });
});

afterAll(async () => {
  await t?.stop();
});

async function metricsText(): Promise<string> {
  const response = await fetch(`${t.url}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

function sample(text: string, name: string, labels: Record<string, string>): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && wanted.every((w) => l.includes(w)));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("metrics", () => {
  it("counts SCIM requests per route, RPCs per procedure and SCIM errors by scimType", async () => {
    const dir = await createScimDirectory(t, ProviderKind.OKTA);
    for (let i = 0; i < 3; i++) expect((await dir.scim("POST", "/Users", { userName: `m${i}@example.com` })).status).toBe(201);
    expect((await dir.scim("GET", `/Users?filter=${encodeURIComponent("userName eq")}`)).status).toBe(400);
    const text = await metricsText();
    expect(sample(text, "roster_http_requests_total", { route: "/scim/v2/Users", method: "POST", status: "201" })).toBeGreaterThanOrEqual(3);
    expect(sample(text, "roster_http_request_duration_seconds_count", { route: "/scim/v2/Users", method: "POST" })).toBeGreaterThanOrEqual(3);
    expect(sample(text, "roster_rpc_requests_total", { procedure: "roster.directory.v1.DirectoryService/CreateUser", code: "ok" })).toBeGreaterThanOrEqual(3);
    expect(sample(text, "roster_scim_errors_total", { status: "400", scim_type: "invalidFilter" })).toBeGreaterThanOrEqual(1);
    // Ids are folded out of route labels, so the series stay few.
    expect(text).not.toMatch(/route="\/scim\/v2\/Users\/[0-9a-f-]{36}"/);
  });
});

describe("request ids", () => {
  it("echoes a caller's id, makes one otherwise, and logs it without the token", async () => {
    const dir = await createScimDirectory(t, ProviderKind.OKTA);
    const given = await scimRequest(t.url, dir.secret, "GET", "/Users", undefined, { headers: { "x-request-id": "trace-abc.123" } });
    expect(given.headers.get("x-request-id")).toBe("trace-abc.123");
    const made = await scimRequest(t.url, dir.secret, "GET", "/Users", undefined, { headers: { "x-request-id": "bad id\twith tabs" } });
    expect(made.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    // The access log line is written when the server finishes the response, which can be
    // just after the client has read it.
    for (const deadline = Date.now() + 2_000; Date.now() < deadline && !t.logs.join("").includes('"requestId":"trace-abc.123"'); ) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const logs = t.logs.join("");
    expect(logs).toContain('"requestId":"trace-abc.123"');
    expect(logs).not.toContain(dir.secret.split("_").at(-1)!);
  });
});

describe("SCIM audit log", () => {
  it("records every call with status and latency, bodies redacted, per directory", async () => {
    const a = await createScimDirectory(t, ProviderKind.OKTA);
    const b = await createScimDirectory(t, ProviderKind.ENTRA);
    const created = await a.scim("POST", "/Users", { userName: "audited@example.com", password: "hunter2-placeholder" });
    expect(created.status).toBe(201);
    expect((await a.scim("GET", "/Users/00000000-0000-7000-8000-000000000000")).status).toBe(404);
    await b.scim("GET", "/Users");
    const admin = t.client(DirectoryService);
    const { secret: readKey } = await admin.createApiKey({ name: "auditor", scope: ApiKeyScope.READ });
    const reader = t.client(DirectoryService, readKey);
    let records: Awaited<ReturnType<typeof reader.listScimAuditRecords>>["records"] = [];
    // Records reach the core in batches a few hundred milliseconds apart.
    for (const deadline = Date.now() + 5_000; Date.now() < deadline && records.length < 2; ) {
      records = (await reader.listScimAuditRecords({ directoryId: a.id })).records;
      if (records.length < 2) await new Promise((r) => setTimeout(r, 100));
    }
    expect(records.map((r) => [r.method, r.status])).toEqual([
      ["GET", 404],
      ["POST", 201],
    ]);
    const post = records[1]!;
    expect(post.path).toBe("/Users");
    expect(post.latencyMs).toBeGreaterThanOrEqual(0);
    expect(post.requestBody).toMatchObject({ userName: "audited@example.com", password: "[redacted]" });
    expect(JSON.stringify(records.map((r) => [r.requestBody, r.responseBody]))).not.toContain("hunter2-placeholder");
    expect(records.every((r) => r.directoryId === a.id)).toBe(true);
    const notFound = records[0]!;
    expect(notFound.scimType).toBe("");
    // Refusals keep their error body; a success's body is its event's state.
    expect(notFound.responseBody).toMatchObject({ status: "404" });
    expect(post.responseBody).toBeUndefined();
    const only404 = await reader.listScimAuditRecords({ directoryId: a.id, status: 404 });
    expect(only404.records).toHaveLength(1);
  });
});

describe("rate limit", () => {
  it("answers 429 with Retry-After once a directory spends its burst, and keeps others apart", async () => {
    const a = await createScimDirectory(t, ProviderKind.OKTA);
    const b = await createScimDirectory(t, ProviderKind.OKTA);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await a.scim("GET", "/Users")).status);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    const refused = await a.scim("GET", "/Users");
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(refused.body.status).toBe("429");
    expect((await b.scim("GET", "/Users")).status).toBe(200);
  });
});

describe("the SCIM facade alone", () => {
  it("serves SCIM against a core in another process", async () => {
    const admin = t.client(DirectoryService);
    const { secret: coreKey } = await admin.createApiKey({ name: "scim facade", scope: ApiKeyScope.ADMIN });
    const { directory } = await admin.createDirectory({ name: "remote", provider: ProviderKind.OKTA });
    const { secret } = await admin.createScimToken({ directoryId: directory!.id, name: "okta" });
    const facade = await startRoster(
      loadConfig({ ROSTER_ROLES: "scim", ROSTER_PORT: "0", ROSTER_CORE_URL: t.url, ROSTER_CORE_API_KEY: coreKey }),
      createLogger("silent"),
    );
    try {
      expect((await fetch(`${facade.server.url}/readyz`)).status).toBe(200);
      const created = await scimRequest(facade.server.url, secret, "POST", "/Users", { userName: "remote@example.com" });
      expect(created.status).toBe(201);
      const got = await admin.getUser({ directoryId: directory!.id, id: created.body.id });
      expect(got.user?.userName).toBe("remote@example.com");
      // It has no core of its own: DirectoryService is not served here.
      const rpc = await fetch(`${facade.server.url}/roster.directory.v1.DirectoryService/ListDirectories`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      expect(rpc.status).toBe(404);
    } finally {
      await facade.stop();
    }
  });

  it("reads the public URL, without a trailing slash, and refuses one that is not a plain http(s) URL", () => {
    expect(loadConfig({}).publicUrl).toBeUndefined();
    expect(loadConfig({ ROSTER_PUBLIC_URL: "https://roster.example.com/" }).publicUrl).toBe("https://roster.example.com");
    expect(loadConfig({ ROSTER_PUBLIC_URL: "https://example.com:8443/idp/" }).publicUrl).toBe("https://example.com:8443/idp");
    for (const bad of ["roster.example.com", "ftp://example.com", "https://example.com/?x=1", "https://user:pw@example.com"]) {
      expect(() => loadConfig({ ROSTER_PUBLIC_URL: bad }), bad).toThrow(/ROSTER_PUBLIC_URL/);
    }
  });

  it("refuses to start without a core URL and key", () => {
    expect(() => loadConfig({ ROSTER_ROLES: "scim" })).toThrow(/ROSTER_CORE_URL and ROSTER_CORE_API_KEY/);
  });

  it("keeps RPC errors typed for remote callers", async () => {
    const error = await t
      .client(DirectoryService)
      .getUser({ directoryId: "00000000-0000-7000-8000-000000000000", id: "x" })
      .catch((e: unknown) => ConnectError.from(e));
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.NotFound);
  });
});

describe("relay metrics", () => {
  it("reports published events, the active relay, outbox lag and deprovisioning latency", async () => {
    const suffix = Math.random().toString(36).slice(2, 8);
    const r = await startTestRoster({
      ROSTER_ROLES: "core,scim,relay",
      KAFKA_BROKERS: testKafkaBrokers().join(","),
      ROSTER_USER_TOPIC: `ops-users-${suffix}`,
      ROSTER_GROUP_TOPIC: `ops-groups-${suffix}`,
    });
    try {
      const dir = await createScimDirectory(r, ProviderKind.ENTRA);
      const created = await dir.scim("POST", "/Users", { userName: "leaver@example.com" });
      expect((await dir.scim("PATCH", `/Users/${created.body.id}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "Replace", path: "active", value: "False" }] })).status).toBe(204);
      let text = "";
      for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
        text = await (await fetch(`${r.url}/metrics`)).text();
        // Gauges are refreshed every second; counters as batches are acknowledged.
        const published = Number(/^roster_relay_published_events_total (\d+)/m.exec(text)?.[1] ?? 0);
        if (published >= 2 && /^roster_relay_active 1$/m.test(text)) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(Number(/^roster_relay_published_events_total (\d+)/m.exec(text)?.[1])).toBeGreaterThanOrEqual(2);
      expect(text).toMatch(/^roster_relay_active 1$/m);
      expect(text).toMatch(/^roster_outbox_unpublished_events \d+/m);
      expect(text).toMatch(/^roster_outbox_lag_seconds [\d.e+-]+/m);
      expect(Number(/^roster_deprovisioning_latency_seconds_count (\d+)/m.exec(text)?.[1])).toBeGreaterThanOrEqual(1);
    } finally {
      await r.stop();
    }
  }, 60_000);
});

describe("outbox lag with no relay running", () => {
  it("is reported from the database by the core, and follows the database when a relay drains it", async () => {
    const r = await startTestRoster(); // core and SCIM only: no relay anywhere
    try {
      const dir = await createScimDirectory(r, ProviderKind.OKTA);
      for (let i = 0; i < 3; i++) expect((await dir.scim("POST", "/Users", { userName: `lag${i}@example.com` })).status).toBe(201);
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const gauge = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
      const scrape = async () => (await fetch(`${r.url}/metrics`)).text();
      const text = await scrape();
      expect(gauge(text, "roster_outbox_unpublished_events")).toBe(3);
      expect(gauge(text, "roster_outbox_lag_seconds")).toBeGreaterThanOrEqual(1);
      expect(gauge(text, "roster_outbox_parked_events")).toBe(0);

      // A relay (without a broker) drains the outbox; the core's figures follow within the cache.
      const relay = startRelay(
        loadConfig({ KAFKA_BROKERS: "", ROSTER_RELAY_POLL_MS: "50" }),
        { url: r.database.url, orm: await openOrm(r.database.url, relayDatabase(createLogger("silent"))) },
        createLogger("silent"),
        eventToPb,
      );
      try {
        await eventually(async () => gauge(await scrape(), "roster_outbox_unpublished_events") === 0, 15_000, "the core reporting the drained outbox");
        expect(gauge(await scrape(), "roster_outbox_lag_seconds")).toBe(0);
      } finally {
        await relay.stop();
      }
    } finally {
      await r.stop();
    }
  }, 30_000);
});

describe("database pools", () => {
  it("holds the core's requests to ROSTER_DATABASE_POOL_MAX connections, named per pool", async () => {
    expect(loadConfig({}).databasePoolMax).toBe(10);
    for (const bad of ["0", "-1", "2.5", "many", "1001"]) {
      expect(() => loadConfig({ ROSTER_DATABASE_POOL_MAX: bad }), bad).toThrow(/ROSTER_DATABASE_POOL_MAX/);
    }
    const small = await startTestRoster({ ROSTER_DATABASE_POOL_MAX: "2" });
    try {
      const dir = await createScimDirectory(small, ProviderKind.OKTA);
      const created = await Promise.all(Array.from({ length: 20 }, (_, i) => dir.scim("POST", "/Users", { userName: `pool${i}@example.com` })));
      expect(created.map((r) => r.status)).toEqual(Array(20).fill(201));
      const pools = await queryDatabase<{ name: string; n: number }>(
        small.database.url,
        "SELECT application_name AS name, count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() GROUP BY 1",
      );
      const core = pools.find((p) => p.name === "roster-core")?.n ?? 0;
      expect(core).toBeGreaterThan(0);
      expect(core).toBeLessThanOrEqual(2);
    } finally {
      await small.stop();
    }
  });
});
