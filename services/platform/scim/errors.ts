// What the SCIM grammar refuses (filters, paths, attribute lists, the PatchOp envelope), with
// the RFC 7644 section 3.12 `scimType` it is answered with. Both sides parse SCIM: the core
// maps this to InvalidArgument (with the kind), the facade to a 400 with the kind as scimType.
import { boundedMessage } from "../text.ts";

export type ScimRequestErrorType = "invalidFilter" | "invalidPath" | "invalidSyntax" | "invalidValue" | "noTarget" | "tooMany";

export class ScimRequestError extends Error {
  override name = "ScimRequestError";
  readonly kind: ScimRequestErrorType;
  constructor(kind: ScimRequestErrorType, message: string) {
    super(boundedMessage(message));
    this.kind = kind;
  }
}
