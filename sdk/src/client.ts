// One factory for the three Roster services over Connect, gRPC or gRPC-web, with the API key
// on every call, a deadline per attempt of a unary call, and retries with backoff for
// idempotent reads only.
import type { DescMethod } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel as Idempotency } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { DirectoryService } from "./gen/roster/directory/v1/directory_pb.js";
import { MappingService } from "./gen/roster/mapping/v1/mapping_pb.js";
import { EventService } from "./gen/roster/events/v1/events_pb.js";
import { ConsumerService } from "./gen/roster/consumers/v1/consumers_pb.js";
import { backoffDelay, sleep, type BackoffOptions } from "./backoff.ts";

export type TransportKind = "connect" | "grpc" | "grpc-web";

export interface RosterClientOptions {
  /** The server's base URL, e.g. `https://roster.internal` or `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** An API key (`rst_key_...`), sent as `authorization: Bearer <key>`. */
  apiKey: string;
  /** Wire protocol; default "connect". gRPC always uses HTTP/2. */
  transport?: TransportKind;
  /** HTTP version for Connect and gRPC-web; default "1.1" (gRPC is always "2"). */
  httpVersion?: "1.1" | "2";
  /**
   * Deadline of each attempt of a unary call, in ms; default 10 000; 0 disables it. Streams
   * have none (StreamEvents follows live). A caller's own `timeoutMs` call option bounds the
   * whole call, retries included.
   */
  timeoutMs?: number;
  /** Retries after the first attempt of an idempotent call; default 2; 0 disables. */
  retries?: number;
  /** Backoff between retries; defaults: 100 ms initial, doubling, 2 s cap, full jitter. */
  retryBackoff?: BackoffOptions;
  /** Extra interceptors, run inside the auth, retry and timeout ones. */
  interceptors?: Interceptor[];
}

export interface RosterClients {
  readonly directory: Client<typeof DirectoryService>;
  readonly mapping: Client<typeof MappingService>;
  readonly events: Client<typeof EventService>;
  readonly consumers: Client<typeof ConsumerService>;
  /** The underlying transport, for clients of other services on the same server. */
  readonly transport: Transport;
}

/** Codes worth another attempt of a call that changes nothing. */
const RETRYABLE = new Set<Code>([Code.Unavailable, Code.DeadlineExceeded, Code.ResourceExhausted]);

/**
 * Reads only: a method declared free of side effects or idempotent in the proto, or named as
 * a read (Get*, List*). Writes are never retried, whatever the error: a create whose answer
 * was lost may have been applied.
 */
export function isIdempotentMethod(method: DescMethod): boolean {
  if (method.methodKind !== "unary") return false;
  if (method.idempotency === Idempotency.NO_SIDE_EFFECTS || method.idempotency === Idempotency.IDEMPOTENT) return true;
  return /^(Get|List)[A-Z]/.test(method.name);
}

export function isRetryableError(error: unknown): boolean {
  return error instanceof ConnectError && RETRYABLE.has(error.code);
}

function authInterceptor(apiKey: string): Interceptor {
  const value = `Bearer ${apiKey}`;
  return (next) => (req) => {
    req.header.set("authorization", value);
    return next(req);
  };
}

/** Retries idempotent unary calls; each attempt gets its own deadline. */
function retryInterceptor(options: { retries: number; timeoutMs: number; backoff: BackoffOptions }): Interceptor {
  return (next) => async (req) => {
    if (req.stream) return next(req);
    const retryable = isIdempotentMethod(req.method);
    for (let attempt = 0; ; attempt++) {
      const attemptSignal = options.timeoutMs > 0 ? attemptDeadline(req.signal, options.timeoutMs) : undefined;
      try {
        return await next(attemptSignal ? { ...req, signal: attemptSignal.signal } : req);
      } catch (error) {
        const mapped = attemptSignal?.timedOut() && !req.signal.aborted
          ? new ConnectError(`attempt timed out after ${options.timeoutMs} ms`, Code.DeadlineExceeded, undefined, undefined, error)
          : error;
        if (!retryable || attempt >= options.retries || req.signal.aborted || !isRetryableError(mapped)) throw mapped;
        await sleep(backoffDelay(attempt, options.backoff), req.signal);
      } finally {
        attemptSignal?.dispose();
      }
    }
  };
}

function attemptDeadline(parent: AbortSignal, timeoutMs: number): { signal: AbortSignal; timedOut(): boolean; dispose(): void } {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new ConnectError(`attempt timed out after ${timeoutMs} ms`, Code.DeadlineExceeded));
  }, timeoutMs);
  const onAbort = () => controller.abort(parent.reason);
  if (parent.aborted) onAbort();
  else parent.addEventListener("abort", onAbort, { once: true });
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    dispose() {
      clearTimeout(timer);
      parent.removeEventListener("abort", onAbort);
    },
  };
}

export function createRosterTransport(options: RosterClientOptions): Transport {
  if (!options.apiKey) throw new TypeError("apiKey is required");
  const interceptors: Interceptor[] = [
    authInterceptor(options.apiKey),
    retryInterceptor({
      retries: options.retries ?? 2,
      timeoutMs: options.timeoutMs ?? 10_000,
      backoff: { initialMs: 100, maxMs: 2_000, ...options.retryBackoff },
    }),
    ...(options.interceptors ?? []),
  ];
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const httpVersion = options.httpVersion ?? "1.1";
  switch (options.transport ?? "connect") {
    case "connect":
      return createConnectTransport({ baseUrl, httpVersion, interceptors });
    case "grpc":
      return createGrpcTransport({ baseUrl, interceptors });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl, httpVersion, interceptors });
    default:
      throw new TypeError(`unknown transport ${String(options.transport)}: use "connect", "grpc" or "grpc-web"`);
  }
}

/** Typed clients of DirectoryService, MappingService, EventService and ConsumerService on one transport. */
export function createRosterClients(options: RosterClientOptions): RosterClients {
  const transport = createRosterTransport(options);
  return {
    directory: createClient(DirectoryService, transport),
    mapping: createClient(MappingService, transport),
    events: createClient(EventService, transport),
    consumers: createClient(ConsumerService, transport),
    transport,
  };
}
