// The core's Connect surface: every service, behind error mapping and API-key auth.
import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { DirectoryService } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { EventService } from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { ConsumerService } from "@roster/sdk/gen/roster/consumers/v1/consumers_pb.js";
import type { DirectoryUseCases } from "../application/directories.ts";
import type { ResourceContext } from "../application/resource-context.ts";
import type { Logger } from "../../platform/logger.ts";
import { authInterceptor } from "./auth.ts";
import { accessGuard, type Guard } from "./authorize.ts";
import { CONSUMER_ACCESS, DIRECTORY_ACCESS, EVENT_ACCESS } from "./access-rules.ts";
import { consumerServiceImpl, type ConsumerServiceDeps } from "./consumer-service.ts";
import { auditServiceImpl, directoryServiceImpl, resourceServiceImpl } from "./directory-service.ts";
import type { AuditUseCases } from "../application/audit.ts";
import type { Metrics } from "../../platform/metrics.ts";
import { toConnectError } from "./errors.ts";
import { refuseMalformedRequests } from "./malformed-requests.ts";
import { inputInterceptor } from "./input.ts";
import { eventServiceImpl, type EventServiceDeps } from "./event-service.ts";
import type { BrakeUseCases } from "../application/brake.ts";
import { brakeServiceImpl } from "./brake-service.ts";
import type { SnapshotUseCases } from "../application/snapshot.ts";
import { snapshotServiceImpl } from "./snapshot-service.ts";

export interface CoreDeps {
  readonly directories: DirectoryUseCases;
  readonly resources: ResourceContext;
  readonly audit: AuditUseCases;
  /** The deprovisioning brake's RPCs; absent, they are not served. */
  readonly brake?: BrakeUseCases | undefined;
  /** MappingService; absent, the service is not served. */
  readonly mapping?: { routes(router: ConnectRouter, guard: Guard): void } | undefined;
  readonly metrics?: Metrics | undefined;
  readonly logger: Logger;
  readonly internalSecret: string;
  /** EventService.SnapshotDirectory; absent, it is not served. */
  readonly snapshots?: SnapshotUseCases | undefined;
  /** EventService's dependencies; absent, the service is not served. */
  readonly events?: Omit<EventServiceDeps, "directories"> | undefined;
  /** ConsumerService's dependencies; absent, the service is not served. */
  readonly consumers?: ConsumerServiceDeps | undefined;
}

/**
 * Outermost: turns whatever a handler throws into the Connect error its caller sees, for
 * unary calls and for errors thrown while a server stream is being produced.
 */
function errorInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    const procedure = `${req.service.typeName}/${req.method.name}`;
    try {
      const res = await next(req);
      if (!res.stream) return res;
      const messages = res.message;
      async function* mapped(): AsyncIterable<typeof messages extends AsyncIterable<infer M> ? M : never> {
        try {
          yield* messages;
        } catch (error) {
          throw toConnectError(error, logger, procedure);
        }
      }
      return { ...res, message: mapped() };
    } catch (error) {
      throw toConnectError(error, logger, procedure);
    }
  };
}

/** Counts calls and their latency by procedure and final code. */
function metricsInterceptor(metrics: Metrics): Interceptor {
  return (next) => async (req) => {
    const procedure = `${req.service.typeName}/${req.method.name}`;
    const started = performance.now();
    let code = "ok";
    try {
      return await next(req);
    } catch (error) {
      code = Code[ConnectError.from(error).code] ?? "unknown";
      throw error;
    } finally {
      metrics.rpcRequests.inc({ procedure, code });
      metrics.rpcDuration.observe({ procedure }, (performance.now() - started) / 1000);
    }
  };
}

export function coreInterceptors(deps: CoreDeps): Interceptor[] {
  return [
    ...(deps.metrics ? [metricsInterceptor(deps.metrics)] : []),
    errorInterceptor(deps.logger),
    authInterceptor(deps.directories, deps.internalSecret, deps.logger),
    inputInterceptor(),
  ];
}

export function coreRoutes(deps: CoreDeps): (router: ConnectRouter) => void {
  // Every service goes through the guard: the access rule of each method runs before it.
  const guard = accessGuard(deps.directories);
  return (router) => {
    router.service(
      DirectoryService,
      guard(DirectoryService, DIRECTORY_ACCESS, {
        ...directoryServiceImpl(deps.directories),
        ...resourceServiceImpl(deps.resources),
        ...auditServiceImpl(deps.audit, deps.logger),
        ...(deps.brake ? brakeServiceImpl(deps.brake) : {}),
      }),
    );
    deps.mapping?.routes(router, guard);
    if (deps.events) {
      const events = { ...eventServiceImpl({ ...deps.events, directories: deps.directories }), ...(deps.snapshots ? snapshotServiceImpl(deps.snapshots) : {}) };
      router.service(EventService, guard(EventService, EVENT_ACCESS, events));
    }
    if (deps.consumers) router.service(ConsumerService, guard(ConsumerService, CONSUMER_ACCESS, consumerServiceImpl(deps.consumers)));
    refuseMalformedRequests(router.handlers);
  };
}
