// Hostile clients against the real server: made-up paths must not grow the metrics, slow or
// silent connections must be closed, refused tokens must not fill the audit log, and one
// directory's flood must not take another's share of the process.
import { once } from "node:events";
import http2 from "node:http2";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ProviderKind } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { EventService } from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { uniqueName } from "../testing/kafka.ts";
import { startTestRoster, type TestRoster } from "../testing/roster.ts";
import { createScimDirectory, type ScimDirectory } from "../testing/scim.ts";

async function metricsText(url: string): Promise<string> {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

/** Distinct values of one label across the samples of one metric. */
function labelValues(text: string, metric: string, label: string): Set<string> {
  const values = new Set<string>();
  const pattern = new RegExp(`${label}="([^"]*)"`);
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${metric}{`)) continue;
    const match = pattern.exec(line);
    if (match) values.add(match[1]!);
  }
  return values;
}

function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers);
    let status = 0;
    stream.on("response", (h) => (status = Number(h[":status"])));
    stream.on("error", reject);
    stream.resume();
    stream.on("close", () => resolve(status));
    stream.end();
  });
}

describe("metrics under made-up paths and methods", () => {
  let t: TestRoster;
  beforeAll(async () => {
    t = await startTestRoster();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("labels by route template only, so /metrics stays the same size", async () => {
    const made = async (n: number, offset: number) => {
      for (let i = offset; i < offset + n; i++) {
        const paths = [`/scim/v2/nope${i}`, `/scim/v2/Users/${i}/extra`, `/roster.x.v1.FakeService/Call${i}`, `/made-up/${i}`];
        for (const path of paths) await (await fetch(`${t.url}${path}`, { method: i % 2 === 0 ? "GET" : "POST" })).arrayBuffer();
      }
      // HTTP/2 lets a client send any method token.
      const session = http2.connect(t.url);
      for (let i = offset; i < offset + n; i++) await h2Request(session, { ":method": `M${i}`, ":path": `/scim/v2/Users/${i}` });
      session.close();
    };
    await made(50, 0);
    await metricsText(t.url);
    const before = await metricsText(t.url);
    await made(500, 50);
    const after = await metricsText(t.url);

    const routes = labelValues(after, "roster_http_requests_total", "route");
    expect([...routes].every((r) => ["/scim/v2/{unknown}", "/scim/v2/Users/{id}", "other", "/metrics"].includes(r))).toBe(true);
    expect(labelValues(after, "roster_http_requests_total", "method")).toEqual(new Set(["GET", "POST", "other"]));
    // Counts change, series do not: ten times the made-up paths, the same HTTP series.
    const series = (text: string) => text.split("\n").filter((l) => l.startsWith("roster_http")).map((l) => l.slice(0, l.lastIndexOf(" ")));
    expect(series(after)).toEqual(series(before));
    expect(after.length).toBeLessThan(before.length + 2_000);
  });

  it("keeps a label for each served procedure and SCIM endpoint", async () => {
    await (await fetch(`${t.url}/scim/v2/users/123`)).arrayBuffer();
    await (await fetch(`${t.url}/scim/v2/Users/.search`, { method: "POST" })).arrayBuffer();
    await (await fetch(`${t.url}/roster.directory.v1.DirectoryService/ListDirectories`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).arrayBuffer();
    const routes = labelValues(await metricsText(t.url), "roster_http_requests_total", "route");
    expect(routes).toContain("/scim/v2/Users/{id}");
    expect(routes).toContain("/scim/v2/Users/.search");
    expect(routes).toContain("/roster.directory.v1.DirectoryService/ListDirectories");
  });
});

// ---- connection timeouts and the connection cap

const TIMEOUT_MS = 400;
// How late a close may come on a loaded machine and still count as "within the timeout".
const SLACK_MS = 1_500;

interface RawConnection {
  readonly socket: net.Socket;
  readonly received: Buffer[];
  /** Milliseconds from connecting to the server closing the connection. */
  readonly closed: Promise<number>;
}

async function rawConnect(url: string): Promise<RawConnection> {
  const { port } = new URL(url);
  const socket = net.connect(Number(port), "127.0.0.1");
  await once(socket, "connect");
  const started = performance.now();
  const received: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => received.push(chunk));
  socket.on("error", () => {});
  const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(performance.now() - started)));
  return { socket, received, closed };
}

/** Writes one byte of `text` every `everyMs` until the socket closes or the text runs out. */
function trickle(socket: net.Socket, text: string, everyMs: number): void {
  let at = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || at >= text.length) return clearInterval(timer);
    socket.write(text[at++]!);
  }, everyMs);
}

function closedWithin(connection: RawConnection, ms: number): Promise<number> {
  return Promise.race([
    connection.closed,
    new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`connection still open after ${ms} ms`)), ms)),
  ]);
}

describe("connection timeouts", () => {
  let t: TestRoster;
  let dir: ScimDirectory;
  beforeAll(async () => {
    t = await startTestRoster({
      ROSTER_ROLES: "core,scim,relay",
      ROSTER_USER_TOPIC: uniqueName("roster-test-users"),
      ROSTER_GROUP_TOPIC: uniqueName("roster-test-groups"),
      ROSTER_RELAY_POLL_MS: "50",
      ROSTER_HEADERS_TIMEOUT_MS: String(TIMEOUT_MS),
      ROSTER_REQUEST_TIMEOUT_MS: String(TIMEOUT_MS),
      ROSTER_KEEP_ALIVE_TIMEOUT_MS: String(TIMEOUT_MS),
      ROSTER_IDLE_TIMEOUT_MS: String(TIMEOUT_MS),
    });
    dir = await createScimDirectory(t, ProviderKind.OKTA);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("closes a connection that sends nothing", async () => {
    const c = await rawConnect(t.url);
    expect(await closedWithin(c, TIMEOUT_MS + SLACK_MS)).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
  });

  it("closes a connection that trickles its request headers", async () => {
    const c = await rawConnect(t.url);
    trickle(c.socket, `GET /healthz HTTP/1.1\r\nhost: x\r\n${"x-pad: y\r\n".repeat(100)}\r\n`, 20);
    await closedWithin(c, TIMEOUT_MS + SLACK_MS);
    expect(Buffer.concat(c.received).length).toBe(0);
  });

  it("closes a connection whose body stops arriving, with a valid token", async () => {
    const c = await rawConnect(t.url);
    c.socket.write(
      `POST /scim/v2/Users HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${dir.secret}\r\ncontent-type: application/scim+json\r\ncontent-length: 1000\r\n\r\n{"userName":`,
    );
    trickle(c.socket, " ".repeat(900), 50);
    await closedWithin(c, TIMEOUT_MS + SLACK_MS);
  });

  it("closes an HTTP/2 connection that sends the preface alone", async () => {
    const c = await rawConnect(t.url);
    c.socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    await closedWithin(c, TIMEOUT_MS + SLACK_MS);
  });

  it("cancels an HTTP/2 stream whose body stops arriving, then closes the idle session", async () => {
    const session = http2.connect(t.url);
    session.on("error", () => {});
    const stream = session.request({ ":method": "POST", ":path": "/scim/v2/Users", authorization: `Bearer ${dir.secret}`, "content-type": "application/scim+json" });
    stream.on("error", () => {});
    stream.write('{"userName":');
    const started = performance.now();
    await Promise.race([once(stream, "close"), sleep(TIMEOUT_MS + SLACK_MS).then(() => Promise.reject(new Error("stream still open")))]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    await Promise.race([once(session, "close"), sleep(TIMEOUT_MS + SLACK_MS).then(() => Promise.reject(new Error("session still open")))]);
  });

  it("closes idle keep-alive connections of both protocols", async () => {
    const c = await rawConnect(t.url);
    c.socket.write("GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n");
    await closedWithin(c, TIMEOUT_MS * 2 + SLACK_MS);
    expect(Buffer.concat(c.received).toString()).toMatch(/^HTTP\/1\.1 200/);

    const session = http2.connect(t.url);
    expect(await h2Request(session, { ":path": "/healthz" })).toBe(200);
    await Promise.race([once(session, "close"), sleep(TIMEOUT_MS * 2 + SLACK_MS).then(() => Promise.reject(new Error("session still open")))]);
  });

  it("keeps event streams open past every timeout, over HTTP/2 and HTTP/1.1", async () => {
    const streams = (["2", "1.1"] as const).map((httpVersion) => {
      const transport = createConnectTransport({
        baseUrl: t.url,
        httpVersion,
        interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${t.adminKey}`), next(req))],
      });
      return t.client(EventService, t.adminKey, transport).streamEvents({ directoryId: dir.id })[Symbol.asyncIterator]();
    });
    const first = await dir.scim("POST", "/Users", { userName: "before@example.com" });
    for (const s of streams) expect((await s.next()).value?.event?.subjectId).toBe(first.body.id);
    // Quiet for several times every timeout, then a new event still arrives on both.
    await sleep(TIMEOUT_MS * 4);
    const later = await dir.scim("POST", "/Users", { userName: "after@example.com" });
    for (const s of streams) expect((await s.next()).value?.event?.subjectId).toBe(later.body.id);
    for (const s of streams) await s.return?.();
  });

  it("serves ordinary requests, reused connections included", async () => {
    for (let i = 0; i < 5; i++) expect((await dir.scim("GET", "/Users?count=1")).status).toBe(200);
    const session = http2.connect(t.url);
    for (let i = 0; i < 5; i++) expect(await h2Request(session, { ":path": "/healthz" })).toBe(200);
    session.close();
  });
});

describe("connection cap", () => {
  let t: TestRoster;
  beforeAll(async () => {
    t = await startTestRoster({ ROSTER_MAX_CONNECTIONS: "3" });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("closes connections over the cap at once and accepts again when one goes", async () => {
    const held = await Promise.all([rawConnect(t.url), rawConnect(t.url), rawConnect(t.url)]);
    // Let the server see all three before the fourth arrives.
    await sleep(100);
    const over = await rawConnect(t.url);
    over.socket.write("GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n");
    await closedWithin(over, SLACK_MS);
    expect(Buffer.concat(over.received).length).toBe(0);

    held[0]!.socket.destroy();
    await held[0]!.closed;
    await sleep(100);
    const again = await rawConnect(t.url);
    again.socket.write("GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    await closedWithin(again, SLACK_MS);
    expect(Buffer.concat(again.received).toString()).toMatch(/^HTTP\/1\.1 200/);
    for (const c of held) c.socket.destroy();
  });
});
