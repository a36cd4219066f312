// How the SCIM facade reaches the directory core: the generated Connect client, over an
// in-memory transport when both run in one process, over HTTP otherwise.
import { createClient, createRouterTransport, type Client, type ConnectRouter, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { DirectoryService } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";

export type CoreClient = Client<typeof DirectoryService>;

function withBearer(secret: string): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", `Bearer ${secret}`);
    return next(req);
  };
}

export function inProcessCoreClient(routes: (router: ConnectRouter) => void, interceptors: Interceptor[], secret: string): CoreClient {
  const transport: Transport = createRouterTransport(routes, {
    router: { interceptors },
    transport: { interceptors: [withBearer(secret)] },
  });
  return createClient(DirectoryService, transport);
}

export function remoteCoreClient(baseUrl: string, apiKey: string): CoreClient {
  return createClient(DirectoryService, createConnectTransport({ baseUrl, httpVersion: "2", interceptors: [withBearer(apiKey)] }));
}
