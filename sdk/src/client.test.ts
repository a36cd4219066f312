// The client factory against a real Roster (real HTTP, real Postgres) over every transport,
// and its retry policy: idempotent reads are retried, writes never.
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { ProviderKind } from "./gen/roster/directory/v1/directory_pb.js";
import { startTestRoster, type TestRoster } from "../../services/testing/roster.ts";
import { createRosterClients, isIdempotentMethod, type TransportKind } from "./client.ts";
import { DirectoryService } from "./gen/roster/directory/v1/directory_pb.js";
import { EventService } from "./gen/roster/events/v1/events_pb.js";

let t: TestRoster;

beforeAll(async () => {
  t = await startTestRoster();
});

afterAll(async () => {
  await t?.stop();
});

async function failure(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail");
}

/** Counts attempts per method; fails the first `failures` attempts with `code`. */
function flaky(failures: number, code: Code): { interceptor: Interceptor; attempts: Map<string, number> } {
  const attempts = new Map<string, number>();
  return {
    attempts,
    interceptor: (next) => async (req) => {
      const n = (attempts.get(req.method.name) ?? 0) + 1;
      attempts.set(req.method.name, n);
      if (n <= failures) throw new ConnectError(`injected failure ${n}`, code);
      return next(req);
    },
  };
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("createRosterClients", () => {
  for (const transport of ["connect", "grpc", "grpc-web"] as TransportKind[]) {
    it(`calls DirectoryService over ${transport} with the API key`, async () => {
      const { directory } = createRosterClients({ baseUrl: t.url, apiKey: t.adminKey, transport });
      const created = await directory.createDirectory({ name: `sdk ${transport}`, provider: ProviderKind.OKTA });
      const got = await directory.getDirectory({ id: created.directory!.id });
      expect(got.directory?.name).toBe(`sdk ${transport}`);
      const listed = await directory.listDirectories({ pageSize: 100 });
      expect(listed.directories.map((d) => d.id)).toContain(created.directory!.id);
      // Errors keep their code over every protocol, and are not retried.
      expect((await failure(directory.getDirectory({ id: "00000000-0000-7000-8000-000000000000" }))).code).toBe(Code.NotFound);
    });
  }

  it("reaches MappingService and EventService on the same transport", async () => {
    const { mapping, events, directory } = createRosterClients({ baseUrl: t.url, apiKey: t.adminKey });
    const { directory: dir } = await directory.createDirectory({ name: "sdk mapping", provider: ProviderKind.OKTA });
    await expect(events.listEvents({ directoryId: dir!.id })).resolves.toMatchObject({ events: [] });
    // MappingService may not be served by this build yet: then the server says so, by code.
    const presets = await mapping.listPresets({}).then(
      (r) => r.presets.length,
      (e: unknown) => ConnectError.from(e).code,
    );
    expect(typeof presets === "number" ? presets > 0 : presets === Code.Unimplemented).toBe(true);
  });

  it("sends the key: a wrong one is refused, without retries", async () => {
    const counter = flaky(0, Code.Unknown);
    const { directory } = createRosterClients({ baseUrl: `${t.url}/`, apiKey: "rst_key_nonsense", interceptors: [counter.interceptor] });
    expect((await failure(directory.listDirectories({}))).code).toBe(Code.Unauthenticated);
    expect(counter.attempts.get("ListDirectories")).toBe(1);
  });

  it("classifies reads and writes", () => {
    const m = DirectoryService.method;
    expect([m.getDirectory, m.listUsers, m.listGroupMembers].map(isIdempotentMethod)).toEqual([true, true, true]);
    expect([m.createUser, m.deactivateUser, m.deleteUser, m.authenticateScimToken].map(isIdempotentMethod)).toEqual([false, false, false, false]);
    expect(isIdempotentMethod(EventService.method.streamEvents)).toBe(false);
  });
});

describe("retries", () => {
  it("retries an idempotent read after Unavailable, then succeeds", async () => {
    const counter = flaky(2, Code.Unavailable);
    const { directory } = createRosterClients({ baseUrl: t.url, apiKey: t.adminKey, retries: 2, retryBackoff: { initialMs: 5 }, interceptors: [counter.interceptor] });
    await directory.listDirectories({});
    expect(counter.attempts.get("ListDirectories")).toBe(3);
  });

  it("gives up after `retries`, and does not retry codes that another attempt cannot fix", async () => {
    const unavailable = flaky(10, Code.Unavailable);
    const a = createRosterClients({ baseUrl: t.url, apiKey: t.adminKey, retries: 2, retryBackoff: { initialMs: 5 }, interceptors: [unavailable.interceptor] });
    expect((await failure(a.directory.listDirectories({}))).code).toBe(Code.Unavailable);
    expect(unavailable.attempts.get("ListDirectories")).toBe(3);

    const internal = flaky(1, Code.Internal);
    const b = createRosterClients({ baseUrl: t.url, apiKey: t.adminKey, retryBackoff: { initialMs: 5 }, interceptors: [internal.interceptor] });
    expect((await failure(b.directory.listDirectories({}))).code).toBe(Code.Internal);
    expect(internal.attempts.get("ListDirectories")).toBe(1);
  });

  it("never retries a write, even after Unavailable: a lost answer does not make a second directory", async () => {
    let attempts = 0;
    // The server applies the write; its answer is lost on the way back.
    const loseAnswer: Interceptor = (next) => async (req) => {
      attempts++;
      await next(req);
      throw new ConnectError("connection reset", Code.Unavailable);
    };
    const { directory } = createRosterClients({ baseUrl: t.url, apiKey: t.adminKey, retries: 5, retryBackoff: { initialMs: 5 }, interceptors: [loseAnswer] });
    expect((await failure(directory.createDirectory({ name: "never twice", provider: ProviderKind.GENERIC }))).code).toBe(Code.Unavailable);
    expect(attempts).toBe(1);
    const listed = await createRosterClients({ baseUrl: t.url, apiKey: t.adminKey }).directory.listDirectories({ pageSize: 200 });
    expect(listed.directories.filter((d) => d.name === "never twice")).toHaveLength(1);
  });

  it("retries reads against a closed port and fails writes at once", async () => {
    const port = await closedPort();
    const counter = flaky(0, Code.Unknown);
    const { directory } = createRosterClients({ baseUrl: `http://127.0.0.1:${port}`, apiKey: "k", retries: 3, retryBackoff: { initialMs: 5 }, interceptors: [counter.interceptor] });
    expect((await failure(directory.getDirectory({ id: "x" }))).code).toBe(Code.Unavailable);
    expect(counter.attempts.get("GetDirectory")).toBe(4);
    expect((await failure(directory.createDirectory({ name: "x" }))).code).toBe(Code.Unavailable);
    expect(counter.attempts.get("CreateDirectory")).toBe(1);
  });

  it("gives each attempt its own deadline: a hung read is retried, a hung write is not", async () => {
    let hung = 0;
    // The first attempt of each method hangs until its deadline aborts it.
    const seen = new Set<string>();
    const hangOnce: Interceptor = (next) => async (req) => {
      if (!seen.has(req.method.name)) {
        seen.add(req.method.name);
        hung++;
        await new Promise((_, reject) => req.signal.addEventListener("abort", () => reject(req.signal.reason), { once: true }));
      }
      return next(req);
    };
    const { directory } = createRosterClients({ baseUrl: t.url, apiKey: t.adminKey, timeoutMs: 150, retryBackoff: { initialMs: 5 }, interceptors: [hangOnce] });
    const started = Date.now();
    await directory.listDirectories({});
    expect(hung).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    const error = await failure(directory.createDirectory({ name: "hung write", provider: ProviderKind.GENERIC }));
    expect(error.code).toBe(Code.DeadlineExceeded);
    expect(hung).toBe(2);
  });

  it("honours the caller's signal during backoff", async () => {
    const counter = flaky(100, Code.Unavailable);
    const { directory } = createRosterClients({ baseUrl: t.url, apiKey: t.adminKey, retries: 100, retryBackoff: { initialMs: 1_000, jitter: "none" }, interceptors: [counter.interceptor] });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const error = await failure(directory.listDirectories({}, { signal: controller.signal }));
    expect(error.code).toBe(Code.Canceled);
    expect(counter.attempts.get("ListDirectories")).toBe(1);
  });
});
