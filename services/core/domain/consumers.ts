// Registered consumers of the lifecycle events and their revocation objective: what a
// consumer is, the bounds on what a caller may set, and which events are leavers.
import { InvalidInputError } from "./errors.ts";

export interface ConsumerSpec {
  /** undefined: a global consumer (every directory). */
  readonly directoryId: string | undefined;
  readonly name: string;
  readonly owner: string;
  readonly objectiveSeconds: number;
  /** A Kafka consumer's group; undefined for a StreamEvents consumer. */
  readonly kafkaGroupId: string | undefined;
}

export interface Consumer extends ConsumerSpec {
  readonly id: string;
  /** Every event at or below this position has been applied. */
  readonly acknowledgedPosition: bigint;
  readonly acknowledgedAt: Date | null;
  /** Leavers at or below this position have been judged against the objective (missed ones counted). */
  readonly judgedThrough: bigint;
  readonly revokedUsers: number;
  readonly revocationSecondsSum: number;
  readonly revocationSecondsMax: number;
  readonly objectiveMissedUsers: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/**
 * Leavers: events after which a user must have no access. A role change counts when it
 * leaves the user with no role at all (it had some before).
 */
export const LEAVER_TYPES = ["user.deactivated", "user.deleted"] as const;
export const ROLES_DROPPED_TYPE = "user.roles_changed";

export const MAX_CONSUMERS_PER_SCOPE = 100;
const MIN_OBJECTIVE_SECONDS = 1;
const MAX_OBJECTIVE_SECONDS = 604_800;
const NAME = /^[A-Za-z0-9._-]{1,100}$/;
const MAX_OWNER = 200;
// Kafka's own limit on a group id is 249 characters of this alphabet.
const GROUP_ID = /^[A-Za-z0-9._-]{1,249}$/;

export function checkConsumerName(raw: string): string {
  if (!NAME.test(raw)) throw new InvalidInputError("invalidValue", "name must be 1 to 100 characters: letters, digits, '.', '_' or '-'");
  return raw;
}

export function checkConsumerSpec(raw: ConsumerSpec): ConsumerSpec {
  if (raw.owner.length > MAX_OWNER || [...raw.owner].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)) {
    throw new InvalidInputError("invalidValue", `owner must be at most ${MAX_OWNER} characters, without control characters`);
  }
  const objective = raw.objectiveSeconds;
  if (!Number.isInteger(objective) || objective < MIN_OBJECTIVE_SECONDS || objective > MAX_OBJECTIVE_SECONDS) {
    throw new InvalidInputError("invalidValue", `objective_seconds must be an integer from ${MIN_OBJECTIVE_SECONDS} to ${MAX_OBJECTIVE_SECONDS}`);
  }
  if (raw.kafkaGroupId !== undefined && !GROUP_ID.test(raw.kafkaGroupId)) {
    throw new InvalidInputError("invalidValue", "kafka_group_id must be 1 to 249 characters: letters, digits, '.', '_' or '-'");
  }
  return { ...raw, name: checkConsumerName(raw.name) };
}

/** The Prometheus label of a consumer's scope. */
export function scopeLabel(directoryId: string | undefined): string {
  return directoryId ?? "global";
}
