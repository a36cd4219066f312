// A request body that is not a valid protobuf message is the caller's mistake:
// invalid_argument. Connect-ES reads a unary request's message before any interceptor runs
// and reports such bytes as `internal` ("parse binary: premature EOF"), because its one
// parser also reads responses, where a bad message is the server's fault. So the router's
// handlers are wrapped: exactly that failure is re-stated as invalid_argument, in each
// protocol's own form (Connect's JSON error body, gRPC's trailers, gRPC-web's trailer
// frame). Streaming calls read their request inside the interceptors, where toConnectError
// re-states it the same way.
import { Code, ConnectError } from "@connectrpc/connect";
import { readAllBytes, type UniversalHandler, type UniversalServerResponse } from "@connectrpc/connect/protocol";
import { codeToHttpStatus, errorFromJsonBytes, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerParse, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import { boundedMessage } from "../../platform/text.ts";

const PARSE_FAILURE = "parse binary: ";

/** The error a caller sees for a request message that could not be read. */
export function malformedRequestError(error: ConnectError): ConnectError | undefined {
  if (error.code !== Code.Internal || !error.rawMessage.startsWith(PARSE_FAILURE)) return undefined;
  return new ConnectError(boundedMessage(`the request is not a valid protobuf message: ${error.rawMessage.slice(PARSE_FAILURE.length)}`), Code.InvalidArgument);
}

/** Wraps every handler of a router (call from its `routes` function, after registering). */
export function refuseMalformedRequests(handlers: UniversalHandler[]): void {
  for (let i = 0; i < handlers.length; i++) handlers[i] = wrap(handlers[i]!);
}

function wrap(handler: UniversalHandler): UniversalHandler {
  const wrapped = async (req: Parameters<UniversalHandler>[0]): Promise<UniversalServerResponse> => restate(await handler(req));
  return Object.assign(wrapped, {
    protocolNames: handler.protocolNames,
    service: handler.service,
    method: handler.method,
    requestPath: handler.requestPath,
    allowedMethods: handler.allowedMethods,
    supportedContentType: handler.supportedContentType,
  });
}

async function restate(res: UniversalServerResponse): Promise<UniversalServerResponse> {
  const contentType = res.header?.get("content-type") ?? "";
  // Connect unary: the error is a small JSON body (never compressed at this size).
  if (res.status === 500 && contentType === "application/json" && res.body !== undefined && !res.header?.has("content-encoding")) {
    const bytes = await readAllBytes(res.body, 1024 * 1024);
    const restated = malformedRequestError(errorFromJsonBytes(bytes, undefined, new ConnectError("internal error", Code.Internal)));
    if (restated === undefined) return { ...res, body: once(bytes) };
    const body = errorToJsonBytes(restated, {});
    const header = new Headers(res.header);
    header.set("content-length", String(body.byteLength));
    return { ...res, status: codeToHttpStatus(restated.code), header, body: once(body) };
  }
  // gRPC: the status is in the trailers, written after the body.
  if (res.trailer !== undefined && res.body !== undefined) {
    const trailer = res.trailer;
    return { ...res, body: thenFix(res.body, () => fixTrailer(trailer)) };
  }
  // gRPC-web: the status is in a trailer frame, the body's last.
  if (contentType.startsWith("application/grpc-web") && res.body !== undefined) return { ...res, body: mapFrames(res.body) };
  return res;
}

function fixTrailer(trailer: Headers): void {
  const status = trailer.get("grpc-status");
  const message = trailer.get("grpc-message");
  if (status !== String(Code.Internal) || message === null) return;
  const restated = malformedRequestError(new ConnectError(safeDecode(message), Code.Internal));
  if (restated !== undefined) setTrailerStatus(trailer, restated);
}

const safeDecode = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

async function* once(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}

async function* thenFix(body: AsyncIterable<Uint8Array>, fix: () => void): AsyncIterable<Uint8Array> {
  yield* body;
  fix();
}

/** Re-states the trailer frame; each chunk of a gRPC-web body is whole frames. */
async function* mapFrames(body: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  for await (const chunk of body) {
    // flags (1 byte), length (4 bytes, big endian), data: an uncompressed trailer frame alone.
    const length = chunk.byteLength >= 5 ? new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength).getUint32(1) : -1;
    if (chunk[0] !== trailerFlag || length !== chunk.byteLength - 5) {
      yield chunk;
      continue;
    }
    const trailer = trailerParse(chunk.subarray(5));
    fixTrailer(trailer);
    const data = trailerSerialize(trailer);
    const frame = new Uint8Array(5 + data.byteLength);
    frame[0] = trailerFlag;
    new DataView(frame.buffer).setUint32(1, data.byteLength);
    frame.set(data, 5);
    yield frame;
  }
}
