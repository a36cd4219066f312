// The SCIM HTTP entry point under /scim/v2: bearer-token authentication (one directory per
// token), bounded bodies, and errors in the SCIM error schema.
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "../platform/logger.ts";
import { bearer } from "../platform/bearer.ts";
import type { CoreClient } from "./core-client.ts";
import { errorBody, ScimError, toScimError } from "./errors.ts";
import type { AuditBuffer } from "./audit-buffer.ts";
import type { RateLimiter } from "./rate-limit.ts";
import { scimRequestCost, type DirectoryBudget } from "./directory-budget.ts";
import { clientKey, type RefusedAuthGuard } from "./refused-auth.ts";
import type { Metrics } from "../platform/metrics.ts";
import { newId } from "../platform/ids.ts";
import { auditedCall } from "../platform/scim/redaction.ts";
import { checkQuery, readJson, send, sendError, type Req, type Res } from "./http.ts";
import type { ScimContext } from "./protocol.ts";
import { route } from "./routes.ts";

export const SCIM_BASE_PATH = "/scim/v2";

export interface ScimDeps {
  readonly core: CoreClient;
  readonly logger: Logger;
  readonly maxBodyBytes: number;
  /** The service's public base URL (ROSTER_PUBLIC_URL), for every absolute URL answered. */
  readonly publicUrl: () => string;
  readonly rateLimiter: RateLimiter;
  readonly directoryBudget: DirectoryBudget;
  readonly refusedAuth: RefusedAuthGuard;
  readonly audit: AuditBuffer;
  readonly metrics: Metrics;
}

const WITH_BODY = new Set(["POST", "PUT", "PATCH"]);
const UNAUTHORIZED_HEADERS = { "www-authenticate": 'Bearer realm="roster-scim"' };

function header(req: Req, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function authenticate(core: CoreClient, secret: string | undefined): Promise<ScimContext["directory"]> {
  if (secret === undefined) throw new ScimError(401, "missing bearer token", undefined, UNAUTHORIZED_HEADERS);
  try {
    return (await core.authenticateScimToken({ secret })).directory!;
  } catch (error) {
    if (error instanceof ConnectError && error.code === Code.Unauthenticated) {
      throw new ScimError(401, "invalid or revoked bearer token", undefined, UNAUTHORIZED_HEADERS);
    }
    throw error;
  }
}

export function scimHandler(deps: ScimDeps): (req: Req, res: Res, requestId: string) => void {
  return (req, res, requestId) => {
    const started = performance.now();
    const method = (req.method ?? "GET").toUpperCase();
    const url = new URL(req.url ?? "/", "http://scim.invalid");
    const path = url.pathname.slice(SCIM_BASE_PATH.length) || "/";
    let directoryId: string | null = null;
    let requestBody: unknown;
    // Calls refused for their token are counted per client address, not audited one by one.
    const client = clientKey(req.socket?.remoteAddress);
    let refusedAuth = false;
    const finish = (status: number, responseBody: unknown, scimType = "") => {
      // Secrets are redacted here, before the record leaves the facade. A successful answer
      // is the resource's new state, which its lifecycle event keeps already (with its
      // version); refusals are kept, since nothing else records why.
      const audited = auditedCall(`${path}${url.search}`, requestBody, status >= 400 ? responseBody : undefined);
      if (refusedAuth) {
        deps.audit.addRefusedAuth({ client, requestId, method, path: audited.path, status, at: new Date() });
        return;
      }
      deps.audit.add({
        id: newId(),
        directoryId,
        requestId,
        method,
        path: audited.path,
        status,
        scimType,
        latencyMs: Math.round(performance.now() - started),
        at: new Date(),
        requestBody: audited.requestBody,
        responseBody: audited.responseBody,
      });
    };
    const handle = async () => {
      const secret = bearer(header(req, "authorization"));
      const gate = deps.refusedAuth.check(client, secret);
      if (!gate.allowed) {
        refusedAuth = true;
        deps.metrics.scimRateLimited.inc({ limit: "refused_auth" });
        throw new ScimError(429, "too many refused bearer tokens from this address; retry later", undefined, { "retry-after": String(gate.retryAfterSeconds) });
      }
      const directory = await authenticate(deps.core, secret).catch((error: unknown) => {
        if (error instanceof ScimError && error.status === 401) {
          refusedAuth = true;
          deps.refusedAuth.refused(client, secret);
        }
        throw error;
      });
      deps.refusedAuth.accepted(secret!);
      directoryId = directory.id;
      const allowed = deps.rateLimiter.take(directory.id);
      if (!allowed.allowed) {
        deps.metrics.scimRateLimited.inc({ limit: "rate" });
        throw new ScimError(429, "too many requests for this directory; retry later", undefined, { "retry-after": String(allowed.retryAfterSeconds) });
      }
      const slot = deps.directoryBudget.enter(directory.id, scimRequestCost(method, path, url.searchParams));
      if (!slot) {
        deps.metrics.scimRateLimited.inc({ limit: "directory_budget" });
        throw new ScimError(429, "too many requests in progress for this directory; retry later", undefined, { "retry-after": "1" });
      }
      res.once("close", slot.abandon);
      try {
        // A client gone while its request waited is owed no answer.
        if (!(await slot.granted)) return;
        checkQuery(url.searchParams);
        const body = WITH_BODY.has(method) ? await readJson(req, deps.maxBodyBytes) : undefined;
        requestBody = body;
        const ctx: ScimContext = { core: deps.core, directory, baseUrl: `${deps.publicUrl()}${SCIM_BASE_PATH}`, maxBodyBytes: deps.maxBodyBytes };
        const response = await route(ctx, {
          method,
          path,
          query: url.searchParams,
          body,
          ifMatch: header(req, "if-match"),
          ifNoneMatch: header(req, "if-none-match"),
        });
        send(res, response.status, response.body, response.headers);
        finish(response.status, response.body);
      } finally {
        slot.leave();
      }
    };
    handle().catch((error: unknown) => {
      let scim = toScimError(error);
      if (!scim) {
        deps.logger.error({ err: error, method, path, requestId }, "unexpected error in SCIM request");
        scim = new ScimError(500, "internal error");
      }
      if (!res.headersSent) sendError(res, scim);
      deps.metrics.scimErrors.inc({ status: String(scim.status), scim_type: scim.scimType ?? "" });
      finish(scim.status, errorBody(scim), scim.scimType);
    })
      // Last line of defence: nothing a request does may end the process.
      .catch((error: unknown) => deps.logger.error({ err: error, method, path, requestId }, "could not finish a SCIM request"));
  };
}
