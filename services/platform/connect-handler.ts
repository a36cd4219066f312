// Connect's RPCs on node:http and node:http2, with their failures in the service's log.
// connectNodeAdapter does the same routing, but prints a response it could not deliver with
// console.error (a multi-line dump beside the structured log), a client that went away
// mid-stream included, and leaves a client that is still there waiting.
import type http from "node:http";
import http2 from "node:http2";
import { Code, ConnectError, createConnectRouter, type ConnectRouter, type ConnectRouterOptions } from "@connectrpc/connect";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { Logger } from "./logger.ts";

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Res = http.ServerResponse | http2.Http2ServerResponse;

export interface ConnectHandler {
  /** Serves an RPC request; 404 for a path no RPC has. */
  (req: Req, res: Res): void;
  /** The request paths of the RPCs served (`/package.Service/Method`). */
  readonly paths: ReadonlySet<string>;
}

/**
 * Whether the client is gone: over HTTP/2 the call's stream is closed, over HTTP/1.1 its
 * connection. (Not `req.destroyed`: an HTTP/1.1 request is destroyed once its body is read.)
 */
function clientGone(req: Req, res: Res): boolean {
  return "stream" in res ? res.stream.destroyed : req.socket.destroyed;
}

export function connectHandler(routes: (router: ConnectRouter) => void, options: ConnectRouterOptions, logger: Logger): ConnectHandler {
  const router = createConnectRouter({ acceptCompression: [compressionGzip, compressionBrotli], ...options });
  routes(router);
  const handlers = new Map<string, UniversalHandler>(router.handlers.map((h) => [h.requestPath, h]));
  const handle = (req: Req, res: Res): void => {
    const path = (req.url ?? "").split("?", 1)[0]!;
    const handler = handlers.get(path);
    if (!handler) {
      res.statusCode = 404;
      res.end();
      return;
    }
    handler(universalRequestFromNodeRequest(req, res, undefined, undefined))
      .then((response) => universalResponseToNodeResponse(response, res))
      .catch((error: unknown) => {
        const procedure = `${handler.service.typeName}/${handler.method.name}`;
        // A cancelled call or a closed connection: nothing is wrong on this side.
        if (clientGone(req, res) || ConnectError.from(error).code === Code.Aborted) logger.debug({ err: error, procedure }, "RPC client went away before the response ended");
        else {
          logger.error({ err: error, procedure }, "RPC response not delivered");
          // Its client would wait for an answer that will not come: end the call.
          if ("stream" in res) res.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
          else res.destroy();
        }
      });
  };
  return Object.assign(handle, { paths: new Set(handlers.keys()) });
}
