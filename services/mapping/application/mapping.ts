// Mapping use cases: presets, reading and saving a directory's rules (validated, with an
// optimistic version), previews that write nothing, canonical users, remap jobs, and the
// hook that derives role changes when memberships change.
import type { Repositories, Store } from "../../core/application/store.ts";
import { checkId, isId, PROVIDER_KINDS, type ProviderKind } from "../../core/domain/directory.ts";
import { InvalidInputError, NotFoundError } from "../../core/domain/errors.ts";
import { userEvent, type NewEvent } from "../../core/domain/events.ts";
import { newId } from "../../platform/ids.ts";
import { checkNotDeleted, checkVersion, sameJson, userFields, type GroupRecord, type UserRecord } from "../../core/domain/resources.ts";
import { canonicalUser, type Evaluation } from "../domain/evaluate.ts";
import type { CanonicalUser, EffectiveRule, FieldSource, GroupInfo, MappingRule, RoleRule, RuleSet } from "../domain/model.ts";
import { presetFor } from "../domain/presets.ts";
import { announcedVersion, supersede, type Segment } from "../domain/remap.ts";
import { effectiveRules, validateMapping } from "../domain/rules.ts";
import { compileRuleSet } from "../domain/evaluate.ts";
import { CanonicalProjection, canonicalJson } from "./canonical.ts";
import type { RemapJob, StoredMapping } from "./ports.ts";
import { RuleSets } from "./rule-sets.ts";

export interface MappingView {
  readonly directoryId: string;
  readonly provider: ProviderKind;
  readonly overrides: readonly MappingRule[];
  readonly roleRules: readonly RoleRule[];
  readonly effectiveRules: readonly EffectiveRule[];
  readonly version: number;
  readonly updatedAt: Date | null;
}

interface PreviewInput {
  readonly directoryId: string;
  /** A raw SCIM User, or the id of a stored user. */
  readonly resource?: unknown;
  readonly userId?: string;
  readonly groupIds?: readonly string[];
  /** Try these instead of the saved rules. */
  readonly rules?: { readonly overrides: readonly MappingRule[]; readonly roleRules: readonly RoleRule[] };
}

interface PreviewResult {
  readonly user: CanonicalUser;
  readonly sources: readonly FieldSource[];
  readonly warnings: readonly string[];
}

/** One user's membership change, for `rolesChanged`. */
interface MembershipDelta {
  readonly userId: string;
  /** Groups the user joined (or, for a rename, the group as it is now). */
  readonly joined: readonly GroupInfo[];
  /** Groups the user left (or, for a rename, the group as it was). */
  readonly left: readonly GroupInfo[];
}

/** Starts a job's background work after the transaction that created it commits. */
export interface RemapScheduler {
  start(job: RemapJob): void;
}

const MAX_PREVIEW_GROUPS = 1000;

export const groupInfo = (g: GroupRecord): GroupInfo => ({ id: g.id, externalId: g.externalId, displayName: g.displayName });

export class MappingUseCases {
  private readonly store: Store;
  readonly ruleSets: RuleSets;
  /** The canonical user of the core's user events (its CanonicalProjector), under the same rules as `canonicalUser`. */
  readonly projection: CanonicalProjection;
  private scheduler: RemapScheduler | undefined;

  constructor(store: Store, ruleSets = new RuleSets()) {
    this.store = store;
    this.ruleSets = ruleSets;
    this.projection = new CanonicalProjection(ruleSets);
  }

  setScheduler(scheduler: RemapScheduler): void {
    this.scheduler = scheduler;
  }

  listPresets(): Array<{ provider: ProviderKind; rules: readonly MappingRule[] }> {
    return PROVIDER_KINDS.map((provider) => ({ provider, rules: presetFor(provider) }));
  }

  async getMapping(directoryId: string): Promise<MappingView> {
    const dirId = checkId("directory_id", directoryId);
    const provider = await this.provider(this.store.read, dirId);
    return view(dirId, provider, await this.store.read.mappings.get(dirId));
  }

  /**
   * Validates the overrides and role rules (every problem reported, nothing saved on any),
   * saves them as a new version, and starts a job re-deriving the directory's users. A job
   * still running is superseded: the new one covers its remaining users.
   */
  async updateMapping(
    directoryId: string,
    change: { overrides: readonly MappingRule[]; roleRules: readonly RoleRule[]; expectedVersion?: number | undefined },
  ): Promise<{ mapping: MappingView; job: RemapJob | undefined }> {
    const dirId = checkId("directory_id", directoryId);
    validateMapping(change.overrides, change.roleRules);
    const result = await this.store.transact(async (repos) => {
      const provider = await this.provider(repos, dirId);
      const now = new Date();
      const current = await repos.mappings.lock(dirId, now);
      checkVersion(current.version, change.expectedVersion, "mapping");
      if (current.version > 0 && sameJson(current.overrides, change.overrides) && sameJson(current.roleRules, change.roleRules)) {
        return { mapping: view(dirId, provider, current), job: await repos.mappings.latestJob(dirId), started: false };
      }
      if (current.version === 0) {
        // Snapshot the preset as version 0, so the remap compares against exactly it.
        await repos.mappings.insertVersion({ directoryId: dirId, version: 0, rules: effectiveRules(presetFor(provider), []), roleRules: [], createdAt: now });
      }
      const saved: StoredMapping = { directoryId: dirId, overrides: change.overrides, roleRules: change.roleRules, version: current.version + 1, updatedAt: now };
      await repos.mappings.insertVersion({
        directoryId: dirId,
        version: saved.version,
        rules: effectiveRules(presetFor(provider), saved.overrides),
        roleRules: saved.roleRules,
        createdAt: now,
      });
      await repos.mappings.save(saved);
      const running = await repos.mappings.runningJob(dirId, true);
      let fromSegments: Segment[] = [{ upTo: null, version: current.version }];
      if (running) {
        fromSegments = supersede(running);
        await repos.mappings.updateJob({ ...running, state: "superseded", endedAt: now });
      }
      const job: RemapJob = {
        id: newId(),
        directoryId: dirId,
        state: "running",
        fromSegments,
        toVersion: saved.version,
        cursor: null,
        usersTotal: await repos.users.countLive(dirId),
        usersProcessed: 0,
        usersChanged: 0,
        startedAt: now,
        endedAt: null,
        error: null,
      };
      await repos.mappings.insertJob(job);
      return { mapping: view(dirId, provider, saved), job, started: true };
    });
    if (result.started && result.job) this.scheduler?.start(result.job);
    return { mapping: result.mapping, job: result.job };
  }

  /** Runs a raw payload or a stored user through rules; reads only. */
  async preview(input: PreviewInput): Promise<PreviewResult> {
    const dirId = checkId("directory_id", input.directoryId);
    const repos = this.store.read;
    const provider = await this.provider(repos, dirId);
    let set: RuleSet;
    if (input.rules) {
      validateMapping(input.rules.overrides, input.rules.roleRules);
      set = { rules: effectiveRules(presetFor(provider), input.rules.overrides), roleRules: input.rules.roleRules };
    } else {
      const mapping = await repos.mappings.get(dirId);
      set = (await this.ruleSets.get(repos, dirId, mapping?.version ?? 0)).set;
    }
    const mapper = compileRuleSet(set);
    let user: UserRecord;
    let groups: GroupInfo[];
    if (input.userId !== undefined && input.userId !== "") {
      user = checkNotDeleted(isId(input.userId) ? await repos.users.get(dirId, input.userId.toLowerCase()) : undefined, "user", input.userId);
      groups = ((await repos.memberships.groupRefsOf([user.id])).get(user.id) ?? []).map(groupInfo);
    } else {
      if (input.resource === undefined) throw new InvalidInputError("invalidValue", "give a resource or a user_id to preview");
      const fields = userFields(input.resource);
      const now = new Date();
      user = { id: "", directoryId: dirId, ...fields, state: fields.active ? "active" : "inactive", version: 0, createdAt: now, updatedAt: now, deletedAt: null };
      groups = [];
    }
    const groupIds = input.groupIds ?? [];
    if (groupIds.length > MAX_PREVIEW_GROUPS) throw new InvalidInputError("tooMany", `at most ${MAX_PREVIEW_GROUPS} group_ids`);
    for (const id of groupIds) {
      const group = isId(id) ? await repos.groups.get(dirId, id.toLowerCase()) : undefined;
      if (!group || group.deletedAt) throw new NotFoundError(`group ${id} not found`);
      if (!groups.some((g) => g.id === group.id)) groups.push(groupInfo(group));
    }
    const result = mapper({ record: user, groups });
    return { user: canonicalUser(user, result.fields), sources: result.sources, warnings: result.warnings };
  }

  /**
   * A stored user's canonical form, under the rules its latest events were derived with
   * (while a remap runs, users it has not reached yet keep the previous rules).
   */
  async canonicalUser(directoryId: string, userId: string): Promise<{ user: CanonicalUser; evaluation: Evaluation }> {
    const dirId = checkId("directory_id", directoryId);
    const repos = this.store.read;
    await this.provider(repos, dirId);
    const user = checkNotDeleted(isId(userId) ? await repos.users.get(dirId, userId.toLowerCase()) : undefined, "user", userId);
    const groups = ((await repos.memberships.groupRefsOf([user.id])).get(user.id) ?? []).map(groupInfo);
    const { mapper } = await this.projection.rulesFor(repos, dirId, user.id);
    const evaluation = mapper({ record: user, groups });
    return { user: canonicalUser(user, evaluation.fields), evaluation };
  }

  /** A job by id, or the directory's latest when id is empty. */
  async getRemapJob(directoryId: string, id: string): Promise<RemapJob> {
    const dirId = checkId("directory_id", directoryId);
    await this.provider(this.store.read, dirId);
    const job = id === "" ? await this.store.read.mappings.latestJob(dirId) : isId(id) ? await this.store.read.mappings.getJob(dirId, id.toLowerCase()) : undefined;
    if (!job) throw new NotFoundError(id === "" ? `directory ${dirId} has no remap job` : `remap job ${id} not found`);
    return job;
  }

  /**
   * The hook for membership changes, called inside the transaction that changed them, after
   * the membership events were built and before `users.setVersions`: for every user whose
   * roles differ between the groups before and after, appends a `user.roles_changed` event
   * (returned, to append with the others) with the user's next version, bumping `versions`.
   * The users must be locked by the caller (they are, in changeMembers). Deleted users are
   * skipped: their `user.deleted` says it all.
   */
  /** Whether role rules are in play (a running remap counts: users may sit under other rules). */
  async groupsCanChangeRoles(repos: Repositories, directoryId: string): Promise<boolean> {
    const { version, running } = await repos.mappings.state(directoryId);
    if (running) return true;
    const { set } = await this.ruleSets.get(repos, directoryId, version);
    return set.roleRules.length > 0;
  }

  async rolesChanged(
    repos: Repositories,
    directoryId: string,
    deltas: readonly MembershipDelta[],
    versions: Map<string, number>,
    now: Date,
  ): Promise<NewEvent[]> {
    if (deltas.length === 0) return [];
    const { version: current, running } = await repos.mappings.state(directoryId);
    // Without any role rule or roles mapping in play, memberships cannot change roles.
    const ids = [...new Set(deltas.map((d) => d.userId))];
    const after = await repos.memberships.groupRefsOf(ids);
    const events: NewEvent[] = [];
    // One rule set per version for the whole change (a 100,000-member group deleted is
    // 100,000 deltas; the provider preset, version 0, is not cached across calls).
    const sets = new Map<number, ReturnType<RuleSets["get"]>>();
    for (const delta of deltas) {
      const version = running ? announcedVersion(running, delta.userId) : current;
      if (!sets.has(version)) sets.set(version, this.ruleSets.get(repos, directoryId, version));
      const { set, mapper } = await sets.get(version)!;
      if (set.roleRules.length === 0) continue;
      const user = await repos.users.get(directoryId, delta.userId);
      if (!user || user.deletedAt) continue;
      const groupsAfter = (after.get(user.id) ?? []).map(groupInfo);
      const joined = new Set(delta.joined.map((g) => g.id));
      const groupsBefore = [...groupsAfter.filter((g) => !joined.has(g.id)), ...delta.left];
      const before = mapper({ record: user, groups: groupsBefore }).fields;
      const afterFields = mapper({ record: user, groups: groupsAfter }).fields;
      if (sameJson(before.roles, afterFields.roles)) continue;
      const sequence = (versions.get(user.id) ?? user.version) + 1;
      versions.set(user.id, sequence);
      const record: UserRecord = { ...user, version: sequence, updatedAt: now };
      events.push(userEvent(record, sequence, "user.roles_changed", rolesPayload(canonicalUser(record, afterFields), before.roles, afterFields.roles, { cause: "membership", mappingVersion: version })));
    }
    return events;
  }

  private async provider(repos: Repositories, directoryId: string): Promise<ProviderKind> {
    const provider = await repos.mappings.providerOf(directoryId);
    if (!provider) throw new NotFoundError(`directory ${directoryId} not found`);
    return provider;
  }
}

function view(directoryId: string, provider: ProviderKind, stored: StoredMapping | undefined): MappingView {
  const overrides = stored?.overrides ?? [];
  return {
    directoryId,
    provider,
    overrides,
    roleRules: stored?.roleRules ?? [],
    effectiveRules: effectiveRules(presetFor(provider), overrides),
    version: stored?.version ?? 0,
    updatedAt: stored && stored.version > 0 ? stored.updatedAt : null,
  };
}

/** The payload extras of a `user.roles_changed` event. */
export function rolesPayload(canonical: CanonicalUser, before: readonly string[], after: readonly string[], extra: Record<string, unknown>): Record<string, unknown> {
  return {
    canonical: canonicalJson(canonical),
    rolesBefore: [...before],
    roles: [...after],
    rolesAdded: after.filter((r) => !before.includes(r)),
    rolesRemoved: before.filter((r) => !after.includes(r)),
    ...extra,
  };
}

