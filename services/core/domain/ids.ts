// Ids are the platform's (the facade makes them too); re-exported for the domain.
export { newId } from "../../platform/ids.ts";
