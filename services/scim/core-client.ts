// How the SCIM facade reaches the directory core: the generated Connect client, over an
// in-process transport when both run in one process, over HTTP otherwise.
//
// The in-process transport calls the core's service implementations directly, through the
// same interceptors (authentication, error mapping) a remote call meets, but without
// serialising messages: on the hottest path (an IdP creating users) encoding every message
// to bytes and back cost more CPU than the database work.
import { create, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createClient,
  createContextValues,
  type Client,
  type ConnectRouter,
  type HandlerContext,
  type Interceptor,
  type Transport,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { DirectoryService } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";

export type CoreClient = Client<typeof DirectoryService>;

type UnaryFn = (request: unknown, context: HandlerContext) => Promise<unknown>;

function withBearer(secret: string): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", `Bearer ${secret}`);
    return next(req);
  };
}

/** Collects the unary implementations a routes function registers. */
function collectImplementations(routes: (router: ConnectRouter) => void): Map<string, UnaryFn> {
  const found = new Map<string, UnaryFn>();
  const router = {
    handlers: [],
    service(service: DescService, impl: Record<string, UnaryFn>) {
      for (const method of service.methods) {
        const fn = impl[method.localName];
        if (fn && method.methodKind === "unary") found.set(`${service.typeName}/${method.name}`, fn.bind(impl));
      }
      return router;
    },
    rpc() {
      return router;
    },
  };
  routes(router as unknown as ConnectRouter);
  return found;
}

function inProcessTransport(routes: (router: ConnectRouter) => void, interceptors: Interceptor[]): Transport {
  const implementations = collectImplementations(routes);
  return {
    async unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethod & { methodKind: "unary"; input: I; output: O },
      signal: AbortSignal | undefined,
      _timeoutMs: number | undefined,
      header: ConstructorParameters<typeof Headers>[0],
      input: unknown,
      contextValues = createContextValues(),
    ): Promise<UnaryResponse<I, O>> {
      const service = method.parent;
      const call = async (req: UnaryRequest<I, O>): Promise<UnaryResponse<I, O>> => {
        const impl = implementations.get(`${service.typeName}/${method.name}`);
        if (!impl) throw new ConnectError(`${method.name} is not implemented`, Code.Unimplemented);
        const context = {
          method,
          service,
          signal: req.signal,
          timeoutMs: () => undefined,
          requestMethod: "POST",
          requestHeader: req.header,
          responseHeader: new Headers(),
          responseTrailer: new Headers(),
          values: req.contextValues,
          url: req.url,
          protocolName: "in-process",
        } as unknown as HandlerContext;
        const output = await impl(req.message, context);
        return { stream: false, service, method, header: new Headers(), trailer: new Headers(), message: create(method.output, output as never) } as UnaryResponse<I, O>;
      };
      // Interceptors wrap outermost first, as the Connect router applies them.
      const chain = interceptors.reduceRight((next, interceptor) => interceptor(next as never) as never, call);
      const request = {
        stream: false,
        service,
        method,
        requestMethod: "POST",
        url: `in-process:/${service.typeName}/${method.name}`,
        signal: signal ?? new AbortController().signal,
        header: new Headers(header),
        contextValues,
        message: create(method.input, input as never),
      } as unknown as UnaryRequest<I, O>;
      return chain(request);
    },
    stream() {
      return Promise.reject(new ConnectError("streaming is not available in process", Code.Unimplemented));
    },
  } as Transport;
}

export function inProcessCoreClient(routes: (router: ConnectRouter) => void, interceptors: Interceptor[], secret: string): CoreClient {
  return createClient(DirectoryService, inProcessTransport(routes, [withBearer(secret), ...interceptors]));
}

export function remoteCoreClient(baseUrl: string, apiKey: string): CoreClient {
  return createClient(DirectoryService, createConnectTransport({ baseUrl, httpVersion: "2", interceptors: [withBearer(apiKey)] }));
}
