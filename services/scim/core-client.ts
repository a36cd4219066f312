// How the SCIM facade reaches the directory core: the generated Connect client. In one
// process the composition root hands it an in-process transport (core/transport/in-process.ts);
// apart, it speaks HTTP/2 to the core with an API key.
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { DirectoryService } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";

export type CoreClient = Client<typeof DirectoryService>;

function withBearer(secret: string): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", `Bearer ${secret}`);
    return next(req);
  };
}

export function remoteCoreClient(baseUrl: string, apiKey: string): CoreClient {
  return createClient(DirectoryService, createConnectTransport({ baseUrl, httpVersion: "2", interceptors: [withBearer(apiKey)] }));
}
