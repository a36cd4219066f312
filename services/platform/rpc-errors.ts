// How the core's refusals travel to its Connect clients beyond the code: response metadata
// both sides name the same way (the SCIM facade turns them back into a scimType and a
// Retry-After).

/** The precise kind of a refusal (a SCIM scimType such as invalidFilter or uniqueness). */
export const ERROR_KIND_HEADER = "roster-error-kind";
/** With a refusal that passes once a condition clears: seconds to wait before retrying. */
export const RETRY_AFTER_HEADER = "retry-after";
/** The kind of a deprovisioning request refused because its directory is held for review. */
export const DIRECTORY_HELD_KIND = "directoryHeld";
