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

/** The longest message an error carries to a caller (HTTP/2 peers refuse large headers). */
export const MAX_ERROR_MESSAGE = 512;
/** How much of a client's input an error message quotes. */
const MAX_QUOTED = 100;

/** Client input as an error message shows it: cut to a bounded length, with an ellipsis. */
export function excerpt(input: string, max = MAX_QUOTED): string {
  if (input.length <= max) return input;
  // Never cut between the halves of a surrogate pair: a lone half cannot be percent-encoded
  // into a grpc-message header.
  const end = /[\uD800-\uDBFF]/.test(input[max - 1]!) ? max - 1 : max;
  return `${input.slice(0, end)}…`;
}

/** Client input quoted as a JSON string, cut like excerpt. */
export function quote(input: string): string {
  return JSON.stringify(excerpt(input));
}

/**
 * Every message built for a caller passes here: whatever a message interpolated, it never
 * grows past MAX_ERROR_MESSAGE (a gRPC status message travels in a header).
 */
export function boundedMessage(message: string): string {
  return excerpt(message, MAX_ERROR_MESSAGE);
}

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
