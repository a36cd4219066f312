// Connect's RPCs on the shared server: a response that cannot be written is an error in the
// service's log while its client is there, and a debug line once the client has gone, over
// HTTP/1.1 and HTTP/2 alike; never a console.error dump.
import { Writable } from "node:stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { EventService } from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { connectHandler } from "./connect-handler.ts";
import { createLogger } from "./logger.ts";
import { startServer, type RunningServer } from "./server.ts";

const LIMITS = { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 5_000, idleTimeoutMs: 60_000, maxConnections: 100, maxStreamsPerSession: 100 };

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.close(1_000);
  server = undefined;
});

interface Line {
  level: number;
  msg: string;
  procedure?: string;
}

async function serve(): Promise<{ url: string; lines: Line[] }> {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line !== "") lines.push(JSON.parse(line) as Line);
      done();
    },
  });
  const handler = connectHandler(
    (router) =>
      router.service(EventService, {
        // Headers the Fetch API allows and Node refuses to write (a control character in a
        // value over HTTP/1.1, a connection-specific header over HTTP/2): the response fails on this
        // side, its client still waiting.
        listEvents(_req, context) {
          context.responseHeader.set("x-broken", "a\u0001b");
          context.responseHeader.set("keep-alive", "timeout=5");
          return {};
        },
        // A stream that goes on until its client leaves.
        async *streamEvents(_req, context) {
          while (!context.signal.aborted) {
            yield {};
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
        },
      }),
    {},
    createLogger("debug", sink),
  );
  server = await startServer(handler, "127.0.0.1", 0, LIMITS);
  return { url: server.url, lines };
}

const LIST = "roster.events.v1.EventService/ListEvents";
const STREAM = "roster.events.v1.EventService/StreamEvents";

describe.each(["1.1", "2"] as const)("connectHandler over HTTP/%s", (httpVersion) => {
  it("logs a response it could not write as an error and ends the call, and logs a client that left as debug", async () => {
    const consoleErrors = vi.spyOn(console, "error");
    try {
      const { url, lines } = await serve();
      const client = createClient(EventService, createConnectTransport({ baseUrl: url, httpVersion }));
      await expect(client.listEvents({})).rejects.toThrow();
      await expect.poll(() => lines.filter((l) => l.procedure === LIST).map((l) => [l.level, l.msg])).toEqual([[50, "RPC response not delivered"]]);

      const left = new AbortController();
      for await (const _ of client.streamEvents({}, { signal: left.signal })) {
        left.abort();
        break;
      }
      await expect.poll(() => lines.filter((l) => l.procedure === STREAM).map((l) => [l.level, l.msg])).toEqual([[20, "RPC client went away before the response ended"]]);
      expect(consoleErrors.mock.calls).toEqual([]);
    } finally {
      consoleErrors.mockRestore();
    }
  });

  it("answers 404 for a path no RPC has, and names the paths it serves", async () => {
    const { url } = await serve();
    expect((await fetch(`${url}/roster.events.v1.EventService/NoSuchMethod`, { method: "POST" })).status).toBe(404);
    const handler = connectHandler((router) => router.service(EventService, {}), {}, createLogger("silent"));
    expect(handler.paths.has(`/${LIST}`)).toBe(true);
  });
});
