// SCIM errors (RFC 7644 section 3.12): one class for what the facade refuses itself, and the
// one map of everything else to it. The core's domain errors arrive as Connect errors (a code
// and the precise kind, mapped once in the core's transport); SCIM parsing the facade does
// itself refuses with the platform's ScimRequestError.
import { Code, ConnectError } from "@connectrpc/connect";
import { DIRECTORY_HELD_KIND, ERROR_KIND_HEADER, RETRY_AFTER_HEADER } from "../platform/rpc-errors.ts";
import { ScimRequestError } from "../platform/scim/errors.ts";
import { boundedMessage } from "../platform/text.ts";

export const ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error";

export class ScimError extends Error {
  readonly status: number;
  readonly scimType: string | undefined;
  readonly headers: Record<string, string>;
  constructor(status: number, detail: string, scimType?: string, headers: Record<string, string> = {}) {
    super(boundedMessage(detail));
    this.status = status;
    this.scimType = scimType;
    this.headers = headers;
  }
}

const STATUS: Partial<Record<Code, number>> = {
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.Aborted]: 412,
  [Code.InvalidArgument]: 400,
  [Code.FailedPrecondition]: 400,
  [Code.Unauthenticated]: 401,
  [Code.PermissionDenied]: 403,
  [Code.ResourceExhausted]: 429,
  [Code.Unimplemented]: 501,
};

/** Anything thrown, as the SCIM client sees it; undefined for what is not a refusal (a bug). */
export function toScimError(error: unknown): ScimError | undefined {
  if (error instanceof ScimError) return error;
  if (error instanceof ConnectError) return fromConnectError(error);
  if (error instanceof ScimRequestError) return new ScimError(400, error.message, error.kind);
  return undefined;
}

/** A failure from the core as the SCIM client must see it; unexpected ones stay generic. */
function fromConnectError(error: ConnectError): ScimError {
  // A directory held for review: 503 with Retry-After, which IdPs retry (nothing was written).
  if (error.code === Code.Unavailable && error.metadata.get(ERROR_KIND_HEADER) === DIRECTORY_HELD_KIND) {
    const seconds = Number(error.metadata.get(RETRY_AFTER_HEADER));
    return new ScimError(503, error.rawMessage, undefined, { "retry-after": String(Number.isInteger(seconds) && seconds > 0 ? seconds : 60) });
  }
  const status = STATUS[error.code];
  if (status === undefined) return new ScimError(500, "internal error");
  const kind = error.metadata.get(ERROR_KIND_HEADER) ?? undefined;
  if (status === 400) return new ScimError(400, error.rawMessage, kind ?? "invalidValue");
  if (status === 409) return new ScimError(409, error.rawMessage, "uniqueness");
  return new ScimError(status, error.rawMessage);
}

export function errorBody(error: ScimError): Record<string, unknown> {
  return {
    schemas: [ERROR_SCHEMA],
    status: String(error.status),
    ...(error.scimType ? { scimType: error.scimType } : {}),
    detail: error.message,
  };
}
