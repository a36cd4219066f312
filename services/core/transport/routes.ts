// The core's Connect surface: every service, behind error mapping and API-key auth.
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { DirectoryService } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import type { DirectoryUseCases } from "../application/directories.ts";
import type { ResourceUseCases } from "../application/resources.ts";
import type { Logger } from "../../platform/logger.ts";
import { authInterceptor } from "./auth.ts";
import { directoryServiceImpl, resourceServiceImpl } from "./directory-service.ts";
import { toConnectError } from "./errors.ts";

export interface CoreDeps {
  readonly directories: DirectoryUseCases;
  readonly resources: ResourceUseCases;
  readonly logger: Logger;
  readonly internalSecret: string;
}

/** Outermost: turns whatever a handler throws into the Connect error its caller sees. */
function errorInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (error) {
      throw toConnectError(error, logger, `${req.service.typeName}/${req.method.name}`);
    }
  };
}

export function coreInterceptors(deps: CoreDeps): Interceptor[] {
  return [errorInterceptor(deps.logger), authInterceptor(deps.directories, deps.internalSecret, deps.logger)];
}

export function coreRoutes(deps: CoreDeps): (router: ConnectRouter) => void {
  return (router) => {
    router.service(DirectoryService, { ...directoryServiceImpl(deps.directories), ...resourceServiceImpl(deps.resources) });
  };
}
