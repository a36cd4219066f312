// For tests: MappingService served on its own port over a test roster's database, behind the
// core's interceptors (error mapping and API-key auth), until the lead wires it into the
// main server.
import { randomBytes } from "node:crypto";
import { createClient, type Client } from "@connectrpc/connect";
import { connectNodeAdapter, createConnectTransport } from "@connectrpc/connect-node";
import { MappingService } from "@roster/sdk/gen/roster/mapping/v1/mapping_pb.js";
import { ResourceUseCases } from "../../core/application/resources.ts";
import { OrmStore } from "../../core/persistence/store.ts";
import { coreInterceptors } from "../../core/transport/routes.ts";
import { createLogger } from "../../platform/logger.ts";
import { startServer } from "../../platform/server.ts";
import type { TestRoster } from "../../testing/roster.ts";
import type { RemapOptions } from "../application/remap.ts";
import { createMapping, type MappingModule } from "./mapping-service.ts";

export interface MappingServer {
  readonly module: MappingModule;
  readonly client: Client<typeof MappingService>;
  stop(): Promise<void>;
}

export async function serveMapping(t: TestRoster, options: RemapOptions = {}): Promise<MappingServer> {
  const store = new OrmStore(t.roster.orm);
  const logger = createLogger("silent");
  const module = createMapping(store, logger, options);
  await module.start();
  const deps = { directories: t.roster.directories, resources: new ResourceUseCases(store), logger, internalSecret: randomBytes(32).toString("base64url") };
  const server = await startServer(connectNodeAdapter({ routes: module.routes, interceptors: coreInterceptors(deps) }), "127.0.0.1", 0);
  const client = createClient(
    MappingService,
    createConnectTransport({
      baseUrl: server.url,
      httpVersion: "1.1",
      interceptors: [
        (next) => (req) => {
          req.header.set("authorization", `Bearer ${t.adminKey}`);
          return next(req);
        },
      ],
    }),
  );
  return {
    module,
    client,
    async stop() {
      await server.close(1_000);
      await module.stop();
    },
  };
}
