// The SCIM HTTP entry point under /scim/v2: bearer-token authentication (one directory per
// token), bounded bodies, and errors in the SCIM error schema.
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "../platform/logger.ts";
import { bearer } from "../core/transport/auth.ts";
import type { CoreClient } from "./core-client.ts";
import { ScimError } from "./errors.ts";
import { readJson, send, sendError, type Req, type Res } from "./http.ts";
import { route, toScimError, type ScimContext } from "./routes.ts";

export const SCIM_BASE_PATH = "/scim/v2";

export interface ScimDeps {
  readonly core: CoreClient;
  readonly logger: Logger;
  readonly maxBodyBytes: number;
}

const WITH_BODY = new Set(["POST", "PUT", "PATCH"]);
const UNAUTHORIZED_HEADERS = { "www-authenticate": 'Bearer realm="roster-scim"' };

function header(req: Req, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function baseUrlOf(req: Req): string {
  const host = header(req, "host") ?? req.headers[":authority"] ?? "localhost";
  return `http://${String(host)}${SCIM_BASE_PATH}`;
}

async function authenticate(core: CoreClient, req: Req): Promise<ScimContext["directory"]> {
  const secret = bearer(header(req, "authorization"));
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

export function scimHandler(deps: ScimDeps): (req: Req, res: Res) => void {
  return (req, res) => {
    const started = performance.now();
    const method = (req.method ?? "GET").toUpperCase();
    const url = new URL(req.url ?? "/", "http://scim.invalid");
    const path = url.pathname.slice(SCIM_BASE_PATH.length) || "/";
    const handle = async () => {
      const directory = await authenticate(deps.core, req);
      const body = WITH_BODY.has(method) ? await readJson(req, deps.maxBodyBytes) : undefined;
      const ctx: ScimContext = { core: deps.core, directory, baseUrl: baseUrlOf(req), maxBodyBytes: deps.maxBodyBytes };
      const response = await route(ctx, {
        method,
        path,
        query: url.searchParams,
        body,
        ifMatch: header(req, "if-match"),
        ifNoneMatch: header(req, "if-none-match"),
      });
      send(res, response.status, response.body, response.headers);
      deps.logger.debug({ method, path, status: response.status, directory: directory.id, ms: Math.round(performance.now() - started) }, "scim request");
    };
    handle().catch((error: unknown) => {
      let scim = toScimError(error);
      if (!scim) {
        deps.logger.error({ err: error, method, path }, "unexpected error in SCIM request");
        scim = new ScimError(500, "internal error");
      }
      if (!res.headersSent) sendError(res, scim);
      deps.logger.debug({ method, path, status: scim.status, scimType: scim.scimType }, "scim request refused");
    });
  };
}
