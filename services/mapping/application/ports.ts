// What the mapping use cases need from storage, beyond the core's repositories. Implemented
// by ../persistence; reached as `repos.mappings` inside the core's transactions, so role
// changes can be derived in the transaction that changes memberships. The core's Store
// carries it without knowing it: this module adds `mappings` to the core's Repositories
// (below) and the composition root hands the Store its implementation.
import type { ProviderKind } from "../../core/domain/directory.ts";
import type { EffectiveRule, MappingRule, RoleRule } from "../domain/model.ts";
import type { Segment } from "../domain/remap.ts";

export interface StoredMapping {
  readonly directoryId: string;
  readonly overrides: readonly MappingRule[];
  readonly roleRules: readonly RoleRule[];
  /** 0 until the first save: the provider's preset, no role rules. */
  readonly version: number;
  readonly updatedAt: Date;
}

/** An immutable snapshot of the rules in effect at one version. */
export interface MappingVersion {
  readonly directoryId: string;
  readonly version: number;
  readonly rules: readonly EffectiveRule[];
  readonly roleRules: readonly RoleRule[];
  readonly createdAt: Date;
}

export type RemapJobState = "running" | "done" | "failed" | "superseded";

export interface RemapJob {
  readonly id: string;
  readonly directoryId: string;
  readonly state: RemapJobState;
  readonly fromSegments: readonly Segment[];
  readonly toVersion: number;
  readonly cursor: string | null;
  readonly usersTotal: number;
  readonly usersProcessed: number;
  readonly usersChanged: number;
  readonly startedAt: Date;
  readonly endedAt: Date | null;
  readonly error: string | null;
}

/** Which rules are in effect: the current version, and the remap still moving users to it. */
export interface MappingState {
  /** 0 until the first save. */
  readonly version: number;
  readonly running: RemapJob | undefined;
}

export interface MappingRepository {
  /** The directory's provider, or undefined when there is no such directory. */
  providerOf(directoryId: string): Promise<ProviderKind | undefined>;
  get(directoryId: string): Promise<StoredMapping | undefined>;
  /** The current version and the running job, in one statement. */
  state(directoryId: string): Promise<MappingState>;
  /** Creates the version-0 row when missing, then locks it until the transaction ends. */
  lock(directoryId: string, now: Date): Promise<StoredMapping>;
  save(mapping: StoredMapping): Promise<void>;
  insertVersion(version: MappingVersion): Promise<void>;
  getVersion(directoryId: string, version: number): Promise<MappingVersion | undefined>;
  insertJob(job: RemapJob): Promise<void>;
  getJob(directoryId: string, id: string): Promise<RemapJob | undefined>;
  getJobForUpdate(directoryId: string, id: string): Promise<RemapJob | undefined>;
  latestJob(directoryId: string): Promise<RemapJob | undefined>;
  /** The directory's running job (at most one); locked when forUpdate. */
  runningJob(directoryId: string, forUpdate: boolean): Promise<RemapJob | undefined>;
  /** Every running job, to resume after a restart. */
  allRunningJobs(): Promise<RemapJob[]>;
  updateJob(job: RemapJob): Promise<void>;
}

declare module "../../core/application/store.ts" {
  interface Repositories {
    /** Attribute and role mapping. */
    readonly mappings: MappingRepository;
  }
}
