// One port for HTTP/1.1 and cleartext HTTP/2 (prior knowledge, as gRPC clients use): the
// first bytes of a connection tell which, and the socket is handed to the matching server.
// Shutdown stops accepting, lets in-flight requests finish, closes HTTP/2 sessions with
// GOAWAY, and only then returns.
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";

export type RequestHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

export interface RunningServer {
  readonly port: number;
  readonly url: string;
  /** Stops accepting; waits for in-flight requests up to timeoutMs, then drops the rest. */
  close(timeoutMs: number): Promise<void>;
}

const H2_PREFACE = "PRI";

export async function startServer(handler: RequestHandler, host: string, port: number): Promise<RunningServer> {
  const h1 = http.createServer({ keepAliveTimeout: 5_000 }, handler);
  const h2 = http2.createServer({}, handler);
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.Http2Session>();
  // HTTP/1.1 requests in flight per socket: the HTTP/1 server never listens itself, so its
  // own idle-connection tracking is unavailable and we end idle keep-alive sockets here.
  const inFlight = new Map<net.Socket, number>();
  let closing = false;
  h1.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
    res.on("close", () => {
      const left = (inFlight.get(socket) ?? 1) - 1;
      inFlight.set(socket, left);
      if (closing && left === 0) socket.end();
    });
  });
  h2.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });

  // noDelay: the sockets come from net, not http, so Nagle would be on; with the client's
  // delayed ACKs it holds back each small write (a streamed event, a response body written
  // after its headers) by up to 40 ms.
  const front = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => {
      sockets.delete(socket);
      inFlight.delete(socket);
    });
    socket.once("readable", () => {
      const head: Buffer | null = socket.read();
      if (head === null) return;
      socket.unshift(head);
      // No HTTP/1.1 method starts with "PRI"; the HTTP/2 preface does.
      const isH2 = head.length >= 3 && head.toString("latin1", 0, 3) === H2_PREFACE;
      if (!isH2) inFlight.set(socket, 0);
      (isH2 ? h2 : h1).emit("connection", socket);
    });
  });

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
