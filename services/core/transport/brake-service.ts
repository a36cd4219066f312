// The deprovisioning brake over Connect (DirectoryService's brake RPCs), and its messages.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  DeprovisioningBrakeSchema,
  DeprovisioningMode,
  DeprovisioningPolicySchema,
  HoldDecision as PbHoldDecision,
  type DeprovisioningBrake,
  type DeprovisioningPolicy,
  type DirectoryService,
} from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import type { BrakeUseCases, BrakeView, HoldDecision } from "../application/brake.ts";
import type { BrakeMode, BrakePolicy } from "../domain/brake.ts";
import { InvalidInputError } from "../domain/errors.ts";
import { principalKey } from "./authorize.ts";

const MODES: Record<BrakeMode, DeprovisioningMode> = { off: DeprovisioningMode.OFF, alert: DeprovisioningMode.ALERT, hold: DeprovisioningMode.HOLD };
const DECISIONS: Partial<Record<PbHoldDecision, HoldDecision>> = {
  [PbHoldDecision.RELEASE_ONCE]: "release_once",
  [PbHoldDecision.RELEASE_FOR]: "release_for",
  [PbHoldDecision.KEEP]: "keep",
};

export function holdDecisionToPb(decision: string): PbHoldDecision {
  return (Object.entries(DECISIONS).find(([, d]) => d === decision)?.[0] as PbHoldDecision | undefined) ?? PbHoldDecision.UNSPECIFIED;
}

/** A policy as event JSON or domain object, as the message; defensive (stored rows outlive code). */
export function policyToPb(p: Partial<Record<keyof BrakePolicy, unknown>>): DeprovisioningPolicy {
  const int = (v: unknown) => (typeof v === "number" && Number.isInteger(v) ? v : 0);
  return create(DeprovisioningPolicySchema, {
    mode: MODES[p.mode as BrakeMode] ?? DeprovisioningMode.UNSPECIFIED,
    windowSeconds: int(p.windowSeconds),
    maxDeprovisions: int(p.maxDeprovisions),
    maxSharePercent: int(p.maxSharePercent),
    groupWipePercent: int(p.groupWipePercent),
  });
}

function policyFromPb(p: DeprovisioningPolicy | undefined): BrakePolicy {
  const mode = (Object.entries(MODES).find(([, m]) => m === p?.mode)?.[0] as BrakeMode | undefined);
  if (!p || !mode) throw new InvalidInputError("invalidValue", "policy.mode must be OFF, ALERT or HOLD");
  return { mode, windowSeconds: p.windowSeconds, maxDeprovisions: p.maxDeprovisions, maxSharePercent: p.maxSharePercent, groupWipePercent: p.groupWipePercent };
}

function brakeToPb(b: BrakeView): DeprovisioningBrake {
  return create(DeprovisioningBrakeSchema, {
    directoryId: b.directoryId,
    policy: policyToPb(b.policy),
    heldSince: b.heldSince ? timestampFromDate(b.heldSince) : undefined,
    heldReason: b.heldReason,
    releasedUntil: b.releasedUntil ? timestampFromDate(b.releasedUntil) : undefined,
    deprovisionsInWindow: BigInt(b.deprovisionsInWindow),
  });
}

/** Who decided, for the audit log: the API key's id (never its secret). */
function actorOf(ctx: HandlerContext): string {
  const principal = ctx.values.get(principalKey);
  return principal?.kind === "apiKey" ? `api_key:${principal.key.id}` : "internal";
}

export function brakeServiceImpl(brake: BrakeUseCases): Partial<ServiceImpl<typeof DirectoryService>> {
  return {
    async getDeprovisioningBrake(req) {
      return { brake: brakeToPb(await brake.get(req.directoryId)) };
    },
    async setDeprovisioningPolicy(req, ctx) {
      return { brake: brakeToPb(await brake.setPolicy(req.directoryId, policyFromPb(req.policy), actorOf(ctx))) };
    },
    async decideDeprovisioningHold(req, ctx) {
      const decision = DECISIONS[req.decision];
      if (!decision) throw new InvalidInputError("invalidValue", "decision must be RELEASE_ONCE, RELEASE_FOR or KEEP");
      return { brake: brakeToPb(await brake.decide(req.directoryId, decision, req.releaseSeconds, req.note, actorOf(ctx))) };
    },
  };
}
