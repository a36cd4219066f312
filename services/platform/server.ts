// One port for HTTP/1.1 and cleartext HTTP/2 (prior knowledge, as gRPC clients use): the
// first bytes of a connection tell which, and the socket is handed to the matching server.
// Shutdown stops accepting, lets in-flight requests finish, closes HTTP/2 sessions with
// GOAWAY, and only then returns.
//
// Connection limits are enforced here, not by the HTTP servers: neither of them listens
// itself, so Node's own headersTimeout/requestTimeout (checked only for connections a server
// accepted) never apply. Each connection has one deadline at a time, for the phase it is in:
//   accepted        -> the first request's headers (HTTP/1.1) or the client's SETTINGS (HTTP/2)
//                      within headersTimeoutMs
//   request headers -> the whole request body within requestTimeoutMs (the response may take
//                      as long as it takes: a server stream of events is a response)
//   HTTP/1.1 idle   -> the next request's headers within keepAliveTimeoutMs
//   HTTP/2 idle     -> a new stream within idleTimeoutMs while no stream is open
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";

type RequestHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

export interface RunningServer {
  readonly port: number;
  readonly url: string;
  /** Stops accepting; waits for in-flight requests up to timeoutMs, then drops the rest. */
  close(timeoutMs: number): Promise<void>;
}

export interface ConnectionLimits {
  /** From accepting a connection to its first request's headers, or HTTP/2 SETTINGS. */
  readonly headersTimeoutMs: number;
  /** From a request's headers to the end of its body. */
  readonly requestTimeoutMs: number;
  /** An HTTP/1.1 connection with no request in flight, until the next request's headers. */
  readonly keepAliveTimeoutMs: number;
  /** An HTTP/2 session with no open stream. */
  readonly idleTimeoutMs: number;
  /** Open connections; more are closed as soon as they are accepted. */
  readonly maxConnections: number;
  /** Concurrent streams one HTTP/2 session may open. */
  readonly maxStreamsPerSession: number;
}

const H2_PREFACE = "PRI";

export async function startServer(
  handler: RequestHandler,
  host: string,
  port: number,
  limits: ConnectionLimits,
): Promise<RunningServer> {
  const h1 = http.createServer({ keepAliveTimeout: limits.keepAliveTimeoutMs }, handler);
  const h2 = http2.createServer({ settings: { maxConcurrentStreams: limits.maxStreamsPerSession } }, handler);
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.Http2Session>();
  // HTTP/1.1 requests in flight per socket: the HTTP/1 server never listens itself, so its
  // own idle-connection tracking is unavailable and we end idle keep-alive sockets here.
  const inFlight = new Map<net.Socket, number>();
  // The one deadline of each connection (see the phases above).
  const deadlines = new Map<net.Socket, NodeJS.Timeout>();
  const disarm = (socket: net.Socket) => {
    clearTimeout(deadlines.get(socket));
    deadlines.delete(socket);
  };
  const arm = (socket: net.Socket, ms: number, expire: () => void = () => socket.destroy()) => {
    disarm(socket);
    const timer = setTimeout(() => {
      deadlines.delete(socket);
      expire();
    }, ms);
    timer.unref();
    deadlines.set(socket, timer);
  };
  let closing = false;
  // The socket being handed to the HTTP/2 server: it creates the session synchronously, and
  // session.socket is a proxy, not the socket the deadlines are kept for.
  let handingOver: net.Socket | undefined;

  h1.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
    // A body still arriving at the deadline is a client holding the connection open.
    arm(socket, limits.requestTimeoutMs, () => {
      if (!req.complete) socket.destroy();
    });
    res.on("close", () => {
      const left = (inFlight.get(socket) ?? 1) - 1;
      inFlight.set(socket, left);
      if (left > 0 || socket.destroyed) return;
      if (closing) socket.end();
      else arm(socket, limits.keepAliveTimeoutMs);
    });
  });

  h2.on("session", (session) => {
    sessions.add(session);
    const socket = handingOver!;
    let open = 0;
    let settled = false;
    const idle = () => {
      if (!settled || open > 0) return;
      arm(socket, limits.idleTimeoutMs, () => {
        // GOAWAY first; a client that keeps the socket open past it loses it.
        session.close();
        arm(socket, limits.headersTimeoutMs);
      });
    };
    session.once("remoteSettings", () => {
      settled = true;
      if (open > 0) disarm(socket);
      else idle();
    });
    session.on("stream", (stream: http2.ServerHttp2Stream) => {
      open++;
      if (settled) disarm(socket);
      // A stream whose body is still arriving at the deadline is cancelled; streams' own
      // timers, since one session carries many requests at once.
      let bodyTimer: NodeJS.Timeout | undefined;
      if (!stream.endAfterHeaders) {
        bodyTimer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), limits.requestTimeoutMs);
        bodyTimer.unref();
        stream.once("end", () => clearTimeout(bodyTimer));
      }
      stream.once("close", () => {
        clearTimeout(bodyTimer);
        open--;
        idle();
      });
    });
    session.on("close", () => sessions.delete(session));
  });

  // noDelay: the sockets come from net, not http, so Nagle would be on; with the client's
  // delayed ACKs it holds back each small write (a streamed event, a response body written
  // after its headers) by up to 40 ms.
  const front = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    arm(socket, limits.headersTimeoutMs);
    socket.on("close", () => {
      disarm(socket);
      sockets.delete(socket);
      inFlight.delete(socket);
    });
    const sniff = () => {
      const head: Buffer | null = socket.read();
      if (head === null) return;
      socket.off("readable", sniff);
      socket.unshift(head);
      // No HTTP/1.1 method starts with "PRI"; the HTTP/2 preface does.
      const isH2 = head.length >= 3 && head.toString("latin1", 0, 3) === H2_PREFACE;
      if (isH2) {
        handingOver = socket;
        h2.emit("connection", socket);
        handingOver = undefined;
      } else {
        inFlight.set(socket, 0);
        h1.emit("connection", socket);
      }
    };
    socket.on("readable", sniff);
  });
  front.maxConnections = limits.maxConnections;

  await new Promise<void>((resolve, reject) => {
    front.once("error", reject);
    front.listen(port, host, () => resolve());
  });
  const address = front.address() as net.AddressInfo;
  const displayHost = host.includes(":") ? `[${host}]` : host;

  return {
    port: address.port,
    url: `http://${displayHost}:${address.port}`,
    async close(timeoutMs) {
      const closed = new Promise<void>((resolve) => front.close(() => resolve()));
      closing = true;
      // In-flight requests finish; idle keep-alive connections go now.
      for (const [socket, count] of inFlight) if (count === 0) socket.end();
      for (const session of sessions) session.close();
      const drained = closed;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      });
      await Promise.race([drained, timedOut]);
      clearTimeout(timer);
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
