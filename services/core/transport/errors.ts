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

/** What a Connect caller sees for any thrown error; unexpected ones are logged, not shown. */
export function toConnectError(error: unknown, logger: Logger, procedure: string): ConnectError {
  if (error instanceof ConnectError) return error;
  if (error instanceof DomainError) return new ConnectError(error.message, codeOf(error));
  logger.error({ err: error, procedure }, "unexpected error in RPC");
  return new ConnectError("internal error", Code.Internal);
}
