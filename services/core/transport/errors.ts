// Domain errors to Connect codes: the Connect column of the table in the design notes.
import { Code, ConnectError } from "@connectrpc/connect";
import {
  BusyError,
  DomainError,
  InvalidInputError,
  MutabilityError,
  NotFoundError,
  UnauthenticatedError,
  UniquenessError,
  VersionMismatchError,
} from "../domain/errors.ts";
import { DirectoryHeldError } from "../domain/brake.ts";
import type { Logger } from "../../platform/logger.ts";
import { malformedRequestError } from "./malformed-requests.ts";
import { DIRECTORY_HELD_KIND, ERROR_KIND_HEADER, RETRY_AFTER_HEADER } from "../../platform/rpc-errors.ts";
import { ScimRequestError } from "../../platform/scim/errors.ts";

function codeOf(error: DomainError): Code {
  if (error instanceof DirectoryHeldError) return Code.Unavailable;
  if (error instanceof NotFoundError) return Code.NotFound;
  if (error instanceof UniquenessError) return Code.AlreadyExists;
  if (error instanceof VersionMismatchError) return Code.Aborted;
  if (error instanceof InvalidInputError) return Code.InvalidArgument;
  if (error instanceof MutabilityError) return Code.FailedPrecondition;
  if (error instanceof UnauthenticatedError) return Code.Unauthenticated;
  if (error instanceof BusyError) return Code.ResourceExhausted;
  return Code.Internal;
}

function kindOf(error: DomainError): string | undefined {
  if (error instanceof InvalidInputError) return error.kind;
  if (error instanceof MutabilityError) return "mutability";
  if (error instanceof UniquenessError) return "uniqueness";
  if (error instanceof DirectoryHeldError) return DIRECTORY_HELD_KIND;
  return undefined;
}

/** What a Connect caller sees for any thrown error; unexpected ones are logged, not shown. */
export function toConnectError(error: unknown, logger: Logger, procedure: string): ConnectError {
  if (error instanceof ConnectError) return malformedRequestError(error) ?? error;
  // What the SCIM grammar refuses (a filter, a path, a PatchOp), parsed here or in a domain rule.
  if (error instanceof ScimRequestError) return new ConnectError(error.message, Code.InvalidArgument, { [ERROR_KIND_HEADER]: error.kind });
  if (error instanceof DomainError) {
    const kind = kindOf(error);
    const retry = error instanceof DirectoryHeldError ? { [RETRY_AFTER_HEADER]: String(error.retryAfterSeconds) } : {};
    return new ConnectError(error.message, codeOf(error), kind === undefined ? undefined : { [ERROR_KIND_HEADER]: kind, ...retry });
  }
  logger.error({ err: error, procedure }, "unexpected error in RPC");
  return new ConnectError("internal error", Code.Internal);
}
