// The brake on mass deprovisioning: a directory's policy, and the rule that decides, for one
// deprovisioning request, whether it passes, is refused because the directory is held, or
// crosses a threshold (which holds the directory or raises an alert, by mode).
import { DomainError, InvalidInputError } from "./errors.ts";

export const BRAKE_MODES = ["off", "alert", "hold"] as const;
export type BrakeMode = (typeof BRAKE_MODES)[number];

export interface BrakePolicy {
  readonly mode: BrakeMode;
  readonly windowSeconds: number;
  /** 0: no count threshold. */
  readonly maxDeprovisions: number;
  /** Percent of the users active at the window's start; 0: none. */
  readonly maxSharePercent: number;
  /** Percent of a group's members one change may remove; 0: none. */
  readonly groupWipePercent: number;
}

export const OFF_POLICY: BrakePolicy = { mode: "off", windowSeconds: 60, maxDeprovisions: 0, maxSharePercent: 0, groupWipePercent: 0 };

export interface Brake {
  readonly directoryId: string;
  readonly policy: BrakePolicy;
  readonly heldSince: Date | null;
  readonly heldReason: string;
  readonly releasedUntil: Date | null;
  /** The last alert (alert mode raises at most one per window). */
  readonly alertedAt: Date | null;
  /** The sequence of the directory's last brake event. */
  readonly sequence: number;
}

export const MIN_WINDOW_SECONDS = 10;
export const MAX_WINDOW_SECONDS = 86_400;
const MAX_COUNT = 10_000_000;
export const MAX_RELEASE_SECONDS = 604_800;
export const MAX_NOTE = 500;
/** What a held directory's refusals tell the IdP to wait before retrying. */
export const HOLD_RETRY_AFTER_SECONDS = 60;

function bounded(field: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new InvalidInputError("invalidValue", `${field} must be an integer from ${min} to ${max}`);
  return value;
}

/** A policy from outside, checked: bounded thresholds, and a hold or alert needs at least one. */
export function checkPolicy(raw: BrakePolicy): BrakePolicy {
  if (!BRAKE_MODES.includes(raw.mode)) throw new InvalidInputError("invalidValue", "mode must be off, alert or hold");
  const policy: BrakePolicy = {
    mode: raw.mode,
    windowSeconds: bounded("window_seconds", raw.windowSeconds, MIN_WINDOW_SECONDS, MAX_WINDOW_SECONDS),
    maxDeprovisions: bounded("max_deprovisions", raw.maxDeprovisions, 0, MAX_COUNT),
    maxSharePercent: bounded("max_share_percent", raw.maxSharePercent, 0, 100),
    groupWipePercent: bounded("group_wipe_percent", raw.groupWipePercent, 0, 100),
  };
  if (policy.mode !== "off" && policy.maxDeprovisions === 0 && policy.maxSharePercent === 0 && policy.groupWipePercent === 0) {
    throw new InvalidInputError("invalidValue", "an alert or hold policy needs at least one threshold");
  }
  return policy;
}

export function checkReleaseSeconds(value: number): number {
  return bounded("release_seconds", value, 1, MAX_RELEASE_SECONDS);
}

/** A deprovisioning request: users deprovisioned, or members removed from one group. */
export type Deprovision =
  | { readonly kind: "users"; readonly count: number }
  | { readonly kind: "groupWipe"; readonly groupId: string; readonly removed: number; readonly membersBefore: number };

/** What the window held before this request. */
export interface WindowFigures {
  readonly deprovisions: number;
  /** Users active now (before this request). */
  readonly activeUsers: number;
}

export type CrossingReason = "deprovisions" | "share" | "group_wipe";

export interface Crossing {
  readonly reason: CrossingReason;
  /** Deprovisions in the window with this request's. */
  readonly deprovisionsInWindow: number;
  /** Users active at the window's start: active now plus deprovisioned in the window. */
  readonly activeUsers: number;
  readonly groupId: string;
  readonly groupMembersRemoved: number;
  readonly groupMembersBefore: number;
}

export function isHeld(brake: Brake): boolean {
  return brake.policy.mode === "hold" && brake.heldSince !== null;
}

export function isReleased(brake: Brake, now: Date): boolean {
  return brake.releasedUntil !== null && brake.releasedUntil.getTime() > now.getTime();
}

/** The threshold this request crosses, if any (ignoring holds and releases). */
export function crossing(policy: BrakePolicy, figures: WindowFigures, request: Deprovision): Crossing | undefined {
  if (request.kind === "groupWipe") {
    // Strictly more than the share: a group emptied of its only member is no wipe signal
    // below the threshold's resolution, and a share of 100 never trips.
    const wiped = policy.groupWipePercent > 0 && request.membersBefore > 0 && request.removed * 100 > policy.groupWipePercent * request.membersBefore;
    if (!wiped) return undefined;
    return { reason: "group_wipe", deprovisionsInWindow: figures.deprovisions, activeUsers: figures.activeUsers + figures.deprovisions, groupId: request.groupId, groupMembersRemoved: request.removed, groupMembersBefore: request.membersBefore };
  }
  const after = figures.deprovisions + request.count;
  const base = figures.activeUsers + figures.deprovisions;
  const common = { deprovisionsInWindow: after, activeUsers: base, groupId: "", groupMembersRemoved: 0, groupMembersBefore: 0 };
  if (policy.maxDeprovisions > 0 && after > policy.maxDeprovisions) return { reason: "deprovisions", ...common };
  if (policy.maxSharePercent > 0 && after * 100 > policy.maxSharePercent * base) return { reason: "share", ...common };
  return undefined;
}

/** Refusal of a deprovisioning request while its directory is held for review. */
export class DirectoryHeldError extends DomainError {
  override name = "DirectoryHeldError";
  readonly retryAfterSeconds = HOLD_RETRY_AFTER_SECONDS;
  constructor(directoryId: string) {
    super(`directory ${directoryId} is held for review: deprovisioning is paused after a mass deprovisioning; an admin must release the hold`);
  }
}

/**
 * Thrown inside a deprovisioning transaction whose request crosses a hold threshold: the
 * transaction rolls back (nothing of the request is written), then the hold is recorded.
 */
export class HoldEngaged extends DirectoryHeldError {
  override name = "HoldEngaged";
  readonly crossing: Crossing;
  constructor(directoryId: string, crossing: Crossing) {
    super(directoryId);
    this.crossing = crossing;
  }
}
