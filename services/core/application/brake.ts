// The deprovisioning brake's use cases: the gate every deprovisioning transaction passes, and
// the admin's policy and hold decisions.
//
// Concurrency: a deprovisioning transaction of a directory whose policy is on locks the
// directory's brake row first, before any user or group (so the lock order stays brake, then
// aggregates, and cannot deadlock), and holds it to commit. Counting the window, deciding and
// recording the deprovision therefore happen one transaction at a time per directory: two
// concurrent requests cannot both see the count below a threshold that together they cross.
// Directories with the brake off take no lock.
import { newId } from "../../platform/ids.ts";
import type { AuditRecord } from "../domain/audit.ts";
import {
  checkPolicy,
  checkReleaseSeconds,
  crossing,
  DirectoryHeldError,
  HoldEngaged,
  isHeld,
  isReleased,
  MAX_NOTE,
  OFF_POLICY,
  type Brake,
  type BrakePolicy,
  type Crossing,
  type Deprovision,
} from "../domain/brake.ts";
import { checkId } from "../domain/directory.ts";
import { InvalidInputError, NotFoundError } from "../domain/errors.ts";
import { directoryEvent, type NewEvent } from "../domain/events.ts";
import type { Json } from "../domain/resources.ts";
import type { Repositories, Store } from "./store.ts";

export type BrakeOutcome = "held" | "alerted" | "refused" | "released" | "kept";
/** Told of every brake outcome (the metrics). */
export type BrakeObserver = (outcome: BrakeOutcome) => void;

export type HoldDecision = "release_once" | "release_for" | "keep";

/** A brake as the admin sees it: with the current window's count. */
export interface BrakeView extends Brake {
  readonly deprovisionsInWindow: number;
}

function policyJson(p: BrakePolicy): Json {
  return { ...p };
}

function crossingJson(policy: BrakePolicy, c: Crossing): Json {
  return { policy: policyJson(policy), ...c };
}

/** The brake of one directory inside one deprovisioning transaction (its row locked). */
export class BrakeGate {
  private brake: Brake;
  private readonly observe: BrakeObserver;
  constructor(brake: Brake, observe: BrakeObserver) {
    this.brake = brake;
    this.observe = observe;
  }

  /**
   * Called once a request's deprovisions are known, before its transaction commits. Refuses
   * while the directory is held; throws HoldEngaged when the request crosses a hold
   * threshold (the transaction rolls back); otherwise counts the deprovisions and returns the
   * events to append with the change (an alert, at most one per window).
   */
  async check(repos: Repositories, request: Deprovision, now: Date): Promise<NewEvent[]> {
    const { directoryId, policy } = this.brake;
    if (isHeld(this.brake)) {
      this.observe("refused");
      throw new DirectoryHeldError(directoryId);
    }
    const windowStart = new Date(now.getTime() - policy.windowSeconds * 1000);
    let figures = { deprovisions: 0, activeUsers: 0 };
    if (request.kind === "users") {
      if (request.count === 0) return [];
      figures = {
        deprovisions: await repos.brakes.count(directoryId, windowStart),
        activeUsers: policy.maxSharePercent > 0 ? await repos.brakes.countActiveUsers(directoryId) : 0,
      };
    }
    const crossed = isReleased(this.brake, now) ? undefined : crossing(policy, figures, request);
    if (crossed && policy.mode === "hold") {
      this.observe("refused");
      throw new HoldEngaged(directoryId, crossed);
    }
    if (request.kind === "users") await repos.brakes.record(directoryId, request.count, now);
    if (!crossed || (this.brake.alertedAt && this.brake.alertedAt.getTime() > windowStart.getTime())) return [];
    this.brake = { ...this.brake, alertedAt: now, sequence: this.brake.sequence + 1 };
    await repos.brakes.save(this.brake, now);
    this.observe("alerted");
    return [directoryEvent(directoryId, this.brake.sequence, "directory.deprovisioning_alerted", now, crossingJson(policy, crossed))];
  }
}

export class BrakeUseCases {
  private readonly store: Store;
  private readonly observe: BrakeObserver;
  constructor(store: Store, observe: BrakeObserver = () => {}) {
    this.store = store;
    this.observe = observe;
  }

  /**
   * Runs a deprovisioning write: fn gets the directory's gate (undefined with the brake off),
   * taken as the transaction's first lock. A request that engages a hold is refused with
   * nothing of it written; the hold is recorded after the rollback.
   */
  async transact<T>(directoryId: string, fn: (repos: Repositories, gate: BrakeGate | undefined) => Promise<T>): Promise<T> {
    try {
      return await this.store.transact(async (repos) => {
        const brake = await repos.brakes.lockEngaged(directoryId);
        return fn(repos, brake && new BrakeGate(brake, this.observe));
      });
    } catch (error) {
      if (error instanceof HoldEngaged) await this.engage(directoryId, error.crossing);
      throw error;
    }
  }

  /** Holds the directory, unless it already is or its policy no longer holds. */
  private async engage(directoryId: string, crossed: Crossing): Promise<void> {
    await this.store.transact(async (repos) => {
      const brake = await repos.brakes.getForUpdate(directoryId);
      if (!brake || brake.policy.mode !== "hold" || brake.heldSince) return;
      const now = new Date();
      const held: Brake = { ...brake, heldSince: now, heldReason: crossed.reason, sequence: brake.sequence + 1 };
      await repos.brakes.save(held, now);
      await repos.outbox.append([directoryEvent(directoryId, held.sequence, "directory.deprovisioning_held", now, crossingJson(brake.policy, crossed))]);
      this.observe("held");
    });
  }

  async get(directoryId: string): Promise<BrakeView> {
    const dirId = checkId("directory_id", directoryId);
    await this.directoryExists(this.store.read, dirId);
    return this.view(this.store.read, (await this.store.read.brakes.get(dirId)) ?? offBrake(dirId));
  }

  /** Sets the policy; turning it off (or to alert) lifts a hold. Recorded in the audit log. */
  async setPolicy(directoryId: string, raw: BrakePolicy, actor: string): Promise<BrakeView> {
    const dirId = checkId("directory_id", directoryId);
    const policy = checkPolicy(raw);
    return this.store.transact(async (repos) => {
      await this.directoryExists(repos, dirId);
      const now = new Date();
      const current = (await repos.brakes.getForUpdate(dirId)) ?? offBrake(dirId);
      const brake: Brake = { ...current, policy, ...(policy.mode === "hold" ? {} : { heldSince: null, heldReason: "" }) };
      await repos.brakes.save(brake, now);
      await repos.audit.append([decisionRecord(dirId, "SetDeprovisioningPolicy", actor, now, { policy: policyJson(policy) })]);
      return this.view(repos, brake);
    });
  }

  /**
   * An admin's decision on a hold. release_once lifts it and restarts the count (the held
   * batch proceeds until a threshold is crossed again); release_for lifts it and suspends the
   * thresholds for `seconds`; keep leaves it. Each is recorded in the audit log; a release is
   * also an event.
   */
  async decide(directoryId: string, decision: HoldDecision, seconds: number, rawNote: string, actor: string): Promise<BrakeView> {
    const dirId = checkId("directory_id", directoryId);
    if (rawNote.length > MAX_NOTE) throw new InvalidInputError("invalidValue", `note must be at most ${MAX_NOTE} characters`);
    const releaseSeconds = decision === "release_for" ? checkReleaseSeconds(seconds) : 0;
    return this.store.transact(async (repos) => {
      await this.directoryExists(repos, dirId);
      const now = new Date();
      const current = await repos.brakes.getForUpdate(dirId);
      if (!current || current.policy.mode === "off") throw new InvalidInputError("invalidValue", "the directory has no deprovisioning policy");
      let brake = current;
      const events: NewEvent[] = [];
      if (decision !== "keep") {
        const releasedUntil = decision === "release_for" ? new Date(now.getTime() + releaseSeconds * 1000) : null;
        brake = { ...current, heldSince: null, heldReason: "", releasedUntil, sequence: current.sequence + 1 };
        await repos.brakes.save(brake, now);
        await repos.brakes.clearCounts(dirId);
        events.push(directoryEvent(dirId, brake.sequence, "directory.deprovisioning_released", now, { decision, releasedUntil: releasedUntil?.toISOString() ?? null }));
      }
      await repos.outbox.append(events);
      const body = { decision, ...(decision === "release_for" ? { releaseSeconds } : {}), note: rawNote, wasHeld: current.heldSince !== null };
      await repos.audit.append([decisionRecord(dirId, "DecideDeprovisioningHold", actor, now, body)]);
      this.observe(decision === "keep" ? "kept" : "released");
      return this.view(repos, brake);
    });
  }

  private async view(repos: Repositories, brake: Brake): Promise<BrakeView> {
    const since = new Date(Date.now() - brake.policy.windowSeconds * 1000);
    return { ...brake, deprovisionsInWindow: brake.policy.mode === "off" ? 0 : await repos.brakes.count(brake.directoryId, since) };
  }

  private async directoryExists(repos: Repositories, id: string): Promise<void> {
    if (!(await repos.directories.get(id))) throw new NotFoundError(`directory ${id} not found`);
  }
}

function offBrake(directoryId: string): Brake {
  return { directoryId, policy: OFF_POLICY, heldSince: null, heldReason: "", releasedUntil: null, alertedAt: null, sequence: 0 };
}

/** An admin decision in the directory's audit log, next to its SCIM calls. */
function decisionRecord(directoryId: string, rpc: string, actor: string, at: Date, body: Json): AuditRecord {
  return {
    id: newId(),
    directoryId,
    requestId: "",
    method: "RPC",
    path: `/roster.directory.v1.DirectoryService/${rpc}`,
    status: 200,
    scimType: "",
    latencyMs: 0,
    at,
    requestBody: { ...body, actor },
    responseBody: undefined,
  };
}
