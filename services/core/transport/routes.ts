// The core's Connect surface: every service, behind error mapping and API-key auth.
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createServiceImplSpec, type ConnectRouter, type Interceptor, type ServiceImpl, type ServiceImplSpec } from "@connectrpc/connect";
import { DirectoryService } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { EventService } from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { MappingService } from "@roster/sdk/gen/roster/mapping/v1/mapping_pb.js";
import { ConsumerService } from "@roster/sdk/gen/roster/consumers/v1/consumers_pb.js";
import type { DirectoryUseCases } from "../application/directories.ts";
import type { ResourceContext } from "../application/resource-context.ts";
import type { Logger } from "../../platform/logger.ts";
import { authInterceptor } from "./auth.ts";
import { accessGuard } from "./authorize.ts";
import { CONSUMER_ACCESS, DIRECTORY_ACCESS, EVENT_ACCESS, MAPPING_ACCESS } from "./access-rules.ts";
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
  /** MappingService's implementation (services/mapping), served behind the core's access rules; absent, it is not served. */
  readonly mapping?: { readonly service: Partial<ServiceImpl<typeof MappingService>> } | undefined;
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

/** One service the core serves, with its guarded implementation. */
export interface ServedService {
  /** Registers the service on a Connect router (the HTTP server's). */
  register(router: ConnectRouter): void;
  /** The implementation as Connect's spec (what the in-process transport calls). */
  readonly spec: ServiceImplSpec;
}

function served<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>): ServedService {
  return { register: (router) => router.service(service, impl), spec: createServiceImplSpec(service, impl) };
}

/** Every service the core serves; each goes through the guard, which runs a method's access rule before it. */
export function coreServices(deps: CoreDeps): ServedService[] {
  const guard = accessGuard(deps.directories);
  const services = [
    served(
      DirectoryService,
      guard(DirectoryService, DIRECTORY_ACCESS, {
        ...directoryServiceImpl(deps.directories),
        ...resourceServiceImpl(deps.resources),
        ...auditServiceImpl(deps.audit, deps.logger),
        ...(deps.brake ? brakeServiceImpl(deps.brake) : {}),
      }),
    ),
  ];
  if (deps.mapping) services.push(served(MappingService, guard(MappingService, MAPPING_ACCESS, deps.mapping.service)));
  if (deps.events) {
    const events = { ...eventServiceImpl({ ...deps.events, directories: deps.directories }), ...(deps.snapshots ? snapshotServiceImpl(deps.snapshots) : {}) };
    services.push(served(EventService, guard(EventService, EVENT_ACCESS, events)));
  }
  if (deps.consumers) services.push(served(ConsumerService, guard(ConsumerService, CONSUMER_ACCESS, consumerServiceImpl(deps.consumers))));
  return services;
}

export function coreRoutes(deps: CoreDeps): (router: ConnectRouter) => void {
  const services = coreServices(deps);
  return (router) => {
    for (const service of services) service.register(router);
    refuseMalformedRequests(router.handlers);
  };
}
