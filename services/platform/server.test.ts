// The shared HTTP server: HTTP/1.1 and cleartext HTTP/2 on one port, and a shutdown that
// lets in-flight requests finish while refusing new connections.
import http from "node:http";
import http2 from "node:http2";
import { afterEach, describe, expect, it } from "vitest";
import { startServer, type ConnectionLimits, type RunningServer } from "./server.ts";

const LIMITS: ConnectionLimits = { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 5_000, idleTimeoutMs: 60_000, maxConnections: 100, maxStreamsPerSession: 100 };

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.close(1_000);
  server = undefined;
});

/** A handler that answers after `release` is called, so a request can be held in flight. */
function heldHandler() {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let arrived!: () => void;
  const arrival = new Promise<void>((resolve) => (arrived = resolve));
  const handler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => {
    if (req.url === "/slow") {
      arrived();
      void released.then(() => res.end(`done over ${req.httpVersion}`));
    } else {
      res.end(`fast over ${req.httpVersion}`);
    }
  };
  return { handler, release, arrival };
}

function get1(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: new http.Agent({ keepAlive: true }) }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}

function get2(session: http2.ClientHttp2Session, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":path": path });
    let body = "";
    stream.on("data", (c: Buffer) => (body += c.toString()));
    stream.on("end", () => resolve(body));
    stream.on("error", reject);
  });
}

describe("server", () => {
  it("serves HTTP/1.1 and HTTP/2 on one port", async () => {
    const { handler } = heldHandler();
    server = await startServer(handler, "127.0.0.1", 0, LIMITS);
    expect((await get1(`${server.url}/`)).body).toBe("fast over 1.1");
    const session = http2.connect(server.url);
    expect(await get2(session, "/")).toBe("fast over 2.0");
    session.close();
  });

  it("finishes an in-flight HTTP/1.1 request during shutdown and refuses new connections", async () => {
    const { handler, release, arrival } = heldHandler();
    server = await startServer(handler, "127.0.0.1", 0, LIMITS);
    const url = server.url;
    const pending = get1(`${url}/slow`);
    await arrival;
    const closing = server.close(5_000);
    server = undefined;
    await expect(get1(`${url}/`)).rejects.toThrow(/ECONNREFUSED/);
    release();
    expect(await pending).toEqual({ status: 200, body: "done over 1.1" });
    await closing;
  });

  it("finishes an in-flight HTTP/2 stream during shutdown", async () => {
    const { handler, release, arrival } = heldHandler();
    server = await startServer(handler, "127.0.0.1", 0, LIMITS);
    const session = http2.connect(server.url);
    const pending = get2(session, "/slow");
    await arrival;
    const closing = server.close(5_000);
    server = undefined;
    release();
    expect(await pending).toBe("done over 2.0");
    await closing;
    session.close();
  });

  it("does not wait for idle keep-alive connections", async () => {
    const { handler } = heldHandler();
    server = await startServer(handler, "127.0.0.1", 0, LIMITS);
    await get1(`${server.url}/`);
    const started = performance.now();
    await server.close(5_000);
    server = undefined;
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("lets a slow response outlive every timeout once its request has arrived, on both protocols", async () => {
    const { handler, release, arrival } = heldHandler();
    const short = { ...LIMITS, headersTimeoutMs: 200, requestTimeoutMs: 200, keepAliveTimeoutMs: 200, idleTimeoutMs: 200 };
    server = await startServer(handler, "127.0.0.1", 0, short);
    const pending1 = get1(`${server.url}/slow`);
    await arrival;
    const session = http2.connect(server.url);
    const pending2 = get2(session, "/slow");
    await new Promise((r) => setTimeout(r, 800));
    release();
    expect(await pending1).toEqual({ status: 200, body: "done over 1.1" });
    expect(await pending2).toBe("done over 2.0");
    session.close();
  });
});
