// The one error type of the filter, path and attribute-list code: a SCIM request error, so
// every transport maps it like the others (SCIM: 400 with its kind as `scimType`, RFC 7644
// section 3.12; Connect: InvalidArgument).
import { ScimRequestError } from "./errors.ts";

export type ScimFilterErrorType = "invalidFilter" | "invalidPath" | "invalidSyntax" | "invalidValue";

export class ScimFilterError extends ScimRequestError {
  override name = "ScimFilterError";
  declare readonly kind: ScimFilterErrorType;
  /** Character offset in the parsed text, when the error is about a position in it. */
  readonly offset: number | undefined;

  constructor(message: string, kind: ScimFilterErrorType = "invalidFilter", offset?: number) {
    super(kind, offset === undefined ? message : `${message} at offset ${offset}`);
    this.offset = offset;
  }
}
