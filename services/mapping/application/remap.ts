// The background re-derivation after a mapping change. It walks the directory's live users
// in id order, in small batches, each batch one short transaction: lock the batch's users
// (id order, like every other multi-user lock, so it cannot deadlock with SCIM writers),
// compare each user's canonical form under the rules it was announced with and under the
// new ones, and for the users that differ append `user.updated` (attributes) and/or
// `user.roles_changed` with the user's next versions, then move the job's cursor. Writers
// wait at most one batch for a user's lock; the rest of the directory is untouched.
import { setTimeout as sleep } from "node:timers/promises";
import type { Store } from "../../core/application/store.ts";
import { userEvent, type NewEvent } from "../../core/domain/events.ts";
import { sameJson, type UserRecord } from "../../core/domain/resources.ts";
import type { Logger } from "../../platform/logger.ts";
import { attributesOf, canonicalUser, changedFields } from "../domain/evaluate.ts";
import { fromVersion } from "../domain/remap.ts";
import { canonicalJson } from "./canonical.ts";
import { groupInfo, rolesPayload, type MappingUseCases, type RemapScheduler } from "./mapping.ts";
import type { RemapJob } from "./ports.ts";

export interface RemapOptions {
  /** Users per transaction. */
  readonly batchSize?: number;
  /** Pause between batches, to leave the database to writers. */
  readonly pauseMs?: number;
  /** First retry delay after an error (doubles up to 30 s). */
  readonly retryMs?: number;
}

export class RemapRunner implements RemapScheduler {
  private readonly store: Store;
  private readonly mapping: MappingUseCases;
  private readonly logger: Logger | undefined;
  private readonly batchSize: number;
  private readonly pauseMs: number;
  private readonly retryMs: number;
  private readonly running = new Map<string, Promise<void>>();
  private stopping = false;

  constructor(store: Store, mapping: MappingUseCases, logger?: Logger, options: RemapOptions = {}) {
    this.store = store;
    this.mapping = mapping;
    this.logger = logger;
    this.batchSize = options.batchSize ?? 250;
    this.pauseMs = options.pauseMs ?? 0;
    this.retryMs = options.retryMs ?? 500;
    mapping.setScheduler(this);
  }

  start(job: RemapJob): void {
    if (this.stopping || this.running.has(job.id)) return;
    const run = this.loop(job.directoryId, job.id).finally(() => this.running.delete(job.id));
    this.running.set(job.id, run);
  }

  /** Picks up the jobs a previous process left running. */
  async resume(): Promise<number> {
    const jobs = await this.store.read.mappings.allRunningJobs();
    for (const job of jobs) this.start(job);
    return jobs.length;
  }

  /** Resolves when no job of this process is running (tests and benchmarks). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running.values()]);
  }

  /** Stops after the batch in flight; running jobs stay running in the database, to resume. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled([...this.running.values()]);
  }

  private async loop(directoryId: string, jobId: string): Promise<void> {
    let delay = this.retryMs;
    while (!this.stopping) {
      let done: boolean;
      try {
        done = await this.batch(directoryId, jobId);
        delay = this.retryMs;
      } catch (error) {
        this.logger?.error({ err: error, jobId, directoryId }, "remap batch failed; retrying");
        await this.store
          .transact(async (repos) => {
            const job = await repos.mappings.getJobForUpdate(directoryId, jobId);
            if (job?.state === "running") await repos.mappings.updateJob({ ...job, error: error instanceof Error ? error.message : String(error) });
          })
          .catch(() => {});
        await sleep(delay);
        delay = Math.min(delay * 2, 30_000);
        continue;
      }
      if (done) return;
      if (this.pauseMs > 0) await sleep(this.pauseMs);
      else await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** One batch in one transaction; true when the job has nothing left to do. */
  private batch(directoryId: string, jobId: string): Promise<boolean> {
    return this.store.transact(async (repos) => {
      const job = await repos.mappings.getJobForUpdate(directoryId, jobId);
      if (!job || job.state !== "running") return true;
      const now = new Date();
      const users = await repos.users.lockLiveAfter(directoryId, job.cursor, this.batchSize);
      if (users.length === 0) {
        await repos.mappings.updateJob({ ...job, state: "done", endedAt: now, error: null, usersTotal: Math.max(job.usersTotal, job.usersProcessed) });
        return true;
      }
      const groups = await repos.memberships.groupRefsOf(users.map((u) => u.id));
      const to = await this.mapping.ruleSets.get(repos, directoryId, job.toVersion);
      const events: NewEvent[] = [];
      const versions = new Map<string, number>();
      let changed = 0;
      for (const user of users) {
        const from = await this.mapping.ruleSets.get(repos, directoryId, fromVersion(job.fromSegments, user.id));
        if (from === to) continue;
        const input = { record: user, groups: (groups.get(user.id) ?? []).map(groupInfo) };
        const before = from.mapper(input).fields;
        const after = to.mapper(input).fields;
        const attributesChanged = !sameJson(attributesOf(before), attributesOf(after));
        const rolesChanged = !sameJson(before.roles, after.roles);
        if (!attributesChanged && !rolesChanged) continue;
        changed++;
        let sequence = user.version;
        const at = (v: number): UserRecord => ({ ...user, version: v, updatedAt: now });
        const cause = { cause: "mapping", mappingVersion: job.toVersion, remapJobId: job.id };
        if (attributesChanged) {
          sequence++;
          const fields = changedFields(before, after).filter((f) => f !== "roles");
          events.push(userEvent(at(sequence), sequence, "user.updated", { canonical: canonicalJson(canonicalUser(at(sequence), after)), changedFields: fields, ...cause }));
        }
        if (rolesChanged) {
          sequence++;
          events.push(userEvent(at(sequence), sequence, "user.roles_changed", rolesPayload(canonicalUser(at(sequence), after), before.roles, after.roles, cause)));
        }
        versions.set(user.id, sequence);
      }
      await repos.users.setVersions(versions, now);
      await repos.outbox.append(events);
      await repos.mappings.updateJob({
        ...job,
        cursor: users.at(-1)!.id,
        usersProcessed: job.usersProcessed + users.length,
        usersChanged: job.usersChanged + changed,
        error: null,
      });
      return false;
    });
  }
}
