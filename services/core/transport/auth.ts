// API-key authentication for RPC callers: `authorization: Bearer rst_key_...`. Admin keys
// may call everything; read keys only the reading RPCs. Which directories a key reaches is
// decided per method by the guard in ./authorize.ts.
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { timingSafeEqual } from "node:crypto";
import type { DirectoryUseCases } from "../application/directories.ts";
import type { Logger } from "../../platform/logger.ts";
import { bearer } from "../../platform/bearer.ts";
import { hasAccessRule, principalKey, type Principal } from "./authorize.ts";
import { toConnectError } from "./errors.ts";

// Acknowledge: a consumer reading with a read key reports what it has applied (its own
// progress, no directory data).
const READ_PREFIXES = ["Get", "List", "Stream", "Preview", "Snapshot", "Acknowledge"];

function isReadMethod(name: string): boolean {
  return READ_PREFIXES.some((prefix) => name.startsWith(prefix));
}

/**
 * internalSecret authenticates components of the same process (the SCIM facade calling the
 * core in-process); it lives only in memory.
 */
export function authInterceptor(directories: DirectoryUseCases, internalSecret: string, logger: Logger): Interceptor {
  const internal = Buffer.from(internalSecret);
  return (next) => async (req) => {
    // Fail closed: a method served without an access rule would reach every directory.
    if (!hasAccessRule(req.method)) throw new ConnectError(`${req.method.name} has no access rule`, Code.PermissionDenied);
    const presented = bearer(req.header.get("authorization"));
    if (presented === undefined) {
      throw new ConnectError("missing API key: send `authorization: Bearer <key>`", Code.Unauthenticated);
    }
    const candidate = Buffer.from(presented);
    let principal: Principal;
    if (candidate.length === internal.length && timingSafeEqual(candidate, internal)) {
      principal = { kind: "internal" };
    } else {
      try {
        principal = { kind: "apiKey", key: await directories.authenticateApiKey(presented) };
      } catch (error) {
        throw toConnectError(error, logger, req.method.name);
      }
      if (principal.key.scope !== "admin" && !isReadMethod(req.method.name)) {
        throw new ConnectError(`a ${principal.key.scope} key may not call ${req.method.name}`, Code.PermissionDenied);
      }
    }
    req.contextValues.set(principalKey, principal);
    return next(req);
  };
}
