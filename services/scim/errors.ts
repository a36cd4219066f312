// SCIM errors (RFC 7644 section 3.12): one class for what the facade refuses itself, and
// the mapping of the core's Connect errors back to status and scimType.
import { Code, ConnectError } from "@connectrpc/connect";
import { ERROR_KIND_HEADER } from "../core/transport/errors.ts";
import { boundedMessage } from "../core/domain/errors.ts";

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

/** A failure from the core as the SCIM client must see it; unexpected ones stay generic. */
export function fromConnectError(error: ConnectError): ScimError {
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
