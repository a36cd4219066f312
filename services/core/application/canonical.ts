// The seam through which user events carry the canonical user (services/mapping computes it;
// the core only passes users in and spreads what comes back into the event payloads).
import type { GroupRef } from "../domain/events.ts";
import type { Json, UserRecord } from "../domain/resources.ts";
import type { Repositories } from "./store.ts";

/** One user as an event states it: the record (with the event's version) and its groups. */
export interface CanonicalInput {
  readonly user: UserRecord;
  /** The user's groups as of the event; loaded by the projector when omitted. */
  readonly groups?: readonly GroupRef[] | undefined;
}

/** What a user event's payload gains: `canonical` (and the mapping version it was derived under). */
export type CanonicalPayload = Json;

/** A projection made without reading the database, valid only while the mapping is at `mappingVersion`. */
export interface CanonicalSpeculation {
  readonly payload: CanonicalPayload;
  /** The mapping version assumed; the write must check the directory is still at it with no remap running. */
  readonly mappingVersion: number;
}

/**
 * Derives the canonical user for event payloads, under the same rules `GetCanonicalUser`
 * answers with (the directory's current mapping, or while a remap runs the rules each user was
 * last announced under), so one user version never has two canonical forms.
 */
export interface CanonicalProjector {
  /**
   * Inside the writing transaction, after the users were locked (so the rule choice cannot
   * move under it): one payload per input, in order.
   */
  canonical(repos: Repositories, directoryId: string, inputs: readonly CanonicalInput[]): Promise<CanonicalPayload[]>;
  /**
   * Without any query, for a user whose groups are known (none for a brand-new user): the
   * payload under the rules last seen current for the directory, or undefined when they are
   * not known or a remap is running.
   */
  speculate(directoryId: string, user: UserRecord, groups?: readonly GroupRef[]): CanonicalSpeculation | undefined;
}
