// The one set of domain errors. Each transport maps them (SCIM: status + scimType;
// Connect: a code); nothing else decides what a failure means to a caller.

export type InvalidKind =
  | "invalidFilter"
  | "invalidPath"
  | "invalidSyntax"
  | "invalidValue"
  | "invalidVers"
  | "noTarget"
  | "tooMany"
  | "sensitive";

// Bounded messages are the platform's: the SCIM parsing shares them.
import { boundedMessage } from "../../platform/text.ts";

export class DomainError extends Error {
  override name = "DomainError";
  constructor(message: string, options?: ErrorOptions) {
    super(boundedMessage(message), options);
  }
}

export class NotFoundError extends DomainError {
  override name = "NotFoundError";
}

export class UniquenessError extends DomainError {
  override name = "UniquenessError";
}

export class VersionMismatchError extends DomainError {
  override name = "VersionMismatchError";
}

export class InvalidInputError extends DomainError {
  override name = "InvalidInputError";
  readonly kind: InvalidKind;
  constructor(kind: InvalidKind, message: string) {
    super(message);
    this.kind = kind;
  }
}

export class MutabilityError extends DomainError {
  override name = "MutabilityError";
}

export class UnauthenticatedError extends DomainError {
  override name = "UnauthenticatedError";
}

/** Refused for now: as much of the same work as is allowed is already running or waiting. */
export class BusyError extends DomainError {
  override name = "BusyError";
}
