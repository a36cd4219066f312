// Tenancy: which directories a caller may reach, decided in one place for every RPC. Each
// service is registered through a guard with an access rule for every one of its methods
// (the type demands one per method, access-rules.ts lists them), and the guard checks the
// rule before the handler runs; the auth interceptor refuses any method registered without.
//
// A key limited to directories that names another directory is told the directory does not
// exist (NOT_FOUND, the very answer an unknown id gets): PERMISSION_DENIED would confirm to
// one tenant that another tenant's directory id is real.
import type { DescMethod, DescService, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextKey, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { checkId, isGlobalKey, type ApiKey, type Directory } from "../domain/directory.ts";
import { NotFoundError } from "../domain/errors.ts";

/** Who is calling: an API key, or a component of the same process (global). */
export type Principal = { readonly kind: "apiKey"; readonly key: ApiKey } | { readonly kind: "internal" };

/** Set by the auth interceptor on every request it lets through. */
export const principalKey = createContextKey<Principal | undefined>(undefined, { description: "authenticated caller" });

export type Access<I> =
  /** Names one directory, which the caller must reach; a write is refused while it is suspended. */
  | { readonly kind: "directory"; readonly field: string; readonly of: (req: I) => string; readonly writes: boolean }
  /** Names one directory as `directory` does, or none (the field empty): then as `global`. */
  | { readonly kind: "directoryOrGlobal"; readonly field: string; readonly of: (req: I) => string; readonly writes: boolean }
  /** Spans directories; the handler narrows its answer to reachableDirectories(ctx). */
  | { readonly kind: "narrowed" }
  /** Spans tenants (directories themselves, API keys, the SCIM facade's own calls): global callers only. */
  | { readonly kind: "global" }
  /** Holds no directory data. */
  | { readonly kind: "public" };

export type AccessRules<S extends DescService> = {
  readonly [P in keyof S["method"]]: Access<MessageShape<S["method"][P]["input"]>>;
};

/** How the guard learns a directory's state (cached: it runs on every write). */
interface DirectoryLookup {
  cachedDirectory(id: string): Promise<Directory>;
}

type Guard = <S extends DescService>(service: S, rules: AccessRules<S>, impl: Partial<ServiceImpl<S>>) => Partial<ServiceImpl<S>>;

const guardedMethods = new WeakSet<DescMethod>();

/**
 * Whether the method's descriptor went through a guard (the auth interceptor refuses the
 * rest): a service served straight on the router, without rules, answers nobody.
 */
export function hasAccessRule(method: DescMethod): boolean {
  return guardedMethods.has(method);
}

function principalOf(ctx: HandlerContext): Principal {
  const principal = ctx.values.get(principalKey);
  if (!principal) throw new ConnectError("no authenticated caller", Code.Unauthenticated);
  return principal;
}

/** The directories the caller is limited to; undefined for a global caller (operators, the SCIM facade). */
export function reachableDirectories(ctx: HandlerContext): readonly string[] | undefined {
  const principal = principalOf(ctx);
  return principal.kind === "apiKey" && !isGlobalKey(principal.key) ? principal.key.directoryIds : undefined;
}

/**
 * Refuses unless the caller reaches the directory, and a write unless the directory is
 * active. Returns the directory id, checked.
 */
async function authorizeDirectory(
  ctx: HandlerContext,
  directories: DirectoryLookup,
  raw: string,
  options: { readonly field: string; readonly writes: boolean },
): Promise<string> {
  const id = checkId(options.field, raw);
  const limitedTo = reachableDirectories(ctx);
  if (limitedTo && !limitedTo.includes(id)) throw new NotFoundError(`directory ${id} not found`);
  if (options.writes) {
    const directory = await directories.cachedDirectory(id);
    if (directory.state !== "active") {
      throw new ConnectError(`directory ${id} is suspended: its users, groups and mapping cannot change until it is reactivated`, Code.FailedPrecondition);
    }
  }
  return id;
}

function refuseLimited(ctx: HandlerContext): void {
  if (reachableDirectories(ctx)) throw new ConnectError(`a key limited to directories may not call ${ctx.method.name}`, Code.PermissionDenied);
}

async function authorize<I>(ctx: HandlerContext, directories: DirectoryLookup, access: Access<I>, req: I): Promise<void> {
  switch (access.kind) {
    case "public":
    case "narrowed":
      return;
    case "global":
      refuseLimited(ctx);
      return;
    case "directory":
      await authorizeDirectory(ctx, directories, access.of(req), access);
      return;
    case "directoryOrGlobal":
      if (access.of(req) === "") refuseLimited(ctx);
      else await authorizeDirectory(ctx, directories, access.of(req), access);
      return;
  }
}

type Handler = (req: unknown, ctx: HandlerContext) => unknown;

/** A guard that checks every method's access rule before its handler. */
export function accessGuard(directories: DirectoryLookup): Guard {
  return <S extends DescService>(service: S, rules: AccessRules<S>, impl: Partial<ServiceImpl<S>>): Partial<ServiceImpl<S>> => {
    const handlers = impl as Record<string, Handler | undefined>;
    const accessOf = rules as Record<string, Access<unknown> | undefined>;
    const guarded: Record<string, Handler> = {};
    for (const method of service.methods) {
      const access = accessOf[method.localName];
      if (!access) throw new Error(`${service.typeName}/${method.name} has no access rule`);
      guardedMethods.add(method);
      const handler = handlers[method.localName];
      if (!handler) continue;
      if (method.methodKind === "unary") {
        guarded[method.localName] = async (req, ctx) => {
          await authorize(ctx, directories, access, req);
          return handler.call(impl, req, ctx);
        };
      } else if (method.methodKind === "server_streaming") {
        guarded[method.localName] = async function* (req, ctx) {
          await authorize(ctx, directories, access, req);
          yield* handler.call(impl, req, ctx) as AsyncIterable<unknown>;
        };
      } else {
        throw new Error(`${service.typeName}/${method.name}: client streams are not guarded yet`);
      }
    }
    return guarded as Partial<ServiceImpl<S>>;
  };
}
