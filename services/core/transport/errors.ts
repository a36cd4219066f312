// Domain errors to Connect codes: the Connect column of the table in the design notes.
import { Code, ConnectError } from "@connectrpc/connect";
import {
  DomainError,
  ForbiddenError,
  InvalidInputError,
  MutabilityError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitedError,
  UnauthenticatedError,
  UniquenessError,
  VersionMismatchError,
} from "../domain/errors.ts";
import type { Logger } from "../../platform/logger.ts";
import { malformedRequestError } from "./malformed-requests.ts";

function codeOf(error: DomainError): Code {
  if (error instanceof NotFoundError) return Code.NotFound;
  if (error instanceof UniquenessError) return Code.AlreadyExists;
  if (error instanceof VersionMismatchError) return Code.Aborted;
  if (error instanceof InvalidInputError) return Code.InvalidArgument;
  if (error instanceof MutabilityError) return Code.FailedPrecondition;
  if (error instanceof UnauthenticatedError) return Code.Unauthenticated;
  if (error instanceof ForbiddenError) return Code.PermissionDenied;
  if (error instanceof PayloadTooLargeError || error instanceof RateLimitedError) return Code.ResourceExhausted;
  return Code.Internal;
}

/**
 * The precise kind of a refusal, for callers that need more than the code (the SCIM facade
 * turns it back into a `scimType`).
 */
export const ERROR_KIND_HEADER = "roster-error-kind";

function kindOf(error: DomainError): string | undefined {
  if (error instanceof InvalidInputError) return error.kind;
  if (error instanceof MutabilityError) return "mutability";
  if (error instanceof UniquenessError) return "uniqueness";
  return undefined;
}

/** What a Connect caller sees for any thrown error; unexpected ones are logged, not shown. */
export function toConnectError(error: unknown, logger: Logger, procedure: string): ConnectError {
  if (error instanceof ConnectError) return malformedRequestError(error) ?? error;
  if (error instanceof DomainError) {
    const kind = kindOf(error);
    return new ConnectError(error.message, codeOf(error), kind === undefined ? undefined : { [ERROR_KIND_HEADER]: kind });
  }
  logger.error({ err: error, procedure }, "unexpected error in RPC");
  return new ConnectError("internal error", Code.Internal);
}
