// Mappings, their versions and remap jobs in SQL (raw and parameterised, like the core's
// resource repositories).
import type { ProviderKind } from "../../core/domain/directory.ts";
import { toDate, toOptionalDate, type Sql } from "../../platform/sql.ts";
import type { MappingRepository, MappingVersion, RemapJob, RemapJobState, StoredMapping } from "../application/ports.ts";
import type { EffectiveRule, MappingRule, RoleRule } from "../domain/model.ts";
import type { Segment } from "../domain/remap.ts";


interface MappingRow {
  directory_id: string;
  overrides: MappingRule[];
  role_rules: RoleRule[];
  version: string;
  updated_at: Date | string;
}

interface VersionRow {
  directory_id: string;
  version: string;
  rules: EffectiveRule[];
  role_rules: RoleRule[];
  created_at: Date | string;
}

interface JobRow {
  id: string;
  directory_id: string;
  state: string;
  from_segments: Segment[];
  to_version: string;
  cursor: string | null;
  users_total: string;
  users_processed: string;
  users_changed: string;
  started_at: Date | string;
  ended_at: Date | string | null;
  error: string | null;
}


const toMapping = (r: MappingRow): StoredMapping => ({
  directoryId: r.directory_id,
  overrides: r.overrides,
  roleRules: r.role_rules,
  version: Number(r.version),
  updatedAt: toDate(r.updated_at),
});

const toVersion = (r: VersionRow): MappingVersion => ({
  directoryId: r.directory_id,
  version: Number(r.version),
  rules: r.rules,
  roleRules: r.role_rules,
  createdAt: toDate(r.created_at),
});

const toJob = (r: JobRow): RemapJob => ({
  id: r.id,
  directoryId: r.directory_id,
  state: r.state as RemapJobState,
  fromSegments: r.from_segments,
  toVersion: Number(r.to_version),
  cursor: r.cursor,
  usersTotal: Number(r.users_total),
  usersProcessed: Number(r.users_processed),
  usersChanged: Number(r.users_changed),
  startedAt: toDate(r.started_at),
  endedAt: toOptionalDate(r.ended_at),
  error: r.error,
});

/** What this module adds to the core's transactions (see Repositories in ports.ts). */
export const mappingRepositories = (sql: Sql) => ({ mappings: mappingRepository(sql) });

function mappingRepository(sql: Sql): MappingRepository {
  const jobColumns = "id, directory_id, state, from_segments, to_version, cursor, users_total, users_processed, users_changed, started_at, ended_at, error";
  return {
    async providerOf(directoryId) {
      const [row] = await sql<{ provider: string }>("SELECT provider FROM directories WHERE id = $1", [directoryId]);
      return row?.provider as ProviderKind | undefined;
    },
    async get(directoryId) {
      const [row] = await sql<MappingRow>("SELECT * FROM mappings WHERE directory_id = $1", [directoryId]);
      return row && toMapping(row);
    },
    async state(directoryId) {
      const [row] = await sql<{ version: string | null; job: JobRow | null }>(
        `SELECT (SELECT version FROM mappings WHERE directory_id = $1) AS version,
                (SELECT row_to_json(j) FROM (SELECT ${jobColumns} FROM remap_jobs WHERE directory_id = $1 AND state = 'running') j) AS job`,
        [directoryId],
      );
      return { version: Number(row?.version ?? 0), running: row?.job ? toJob(row.job) : undefined };
    },
    async lock(directoryId, now) {
      await sql(
        `INSERT INTO mappings (directory_id, overrides, role_rules, version, updated_at) VALUES ($1, '[]', '[]', 0, $2)
         ON CONFLICT (directory_id) DO NOTHING`,
        [directoryId, now],
      );
      const [row] = await sql<MappingRow>("SELECT * FROM mappings WHERE directory_id = $1 FOR UPDATE", [directoryId]);
      return toMapping(row!);
    },
    async save(m) {
      await sql("UPDATE mappings SET overrides = $2, role_rules = $3, version = $4, updated_at = $5 WHERE directory_id = $1", [
        m.directoryId,
        JSON.stringify(m.overrides),
        JSON.stringify(m.roleRules),
        m.version,
        m.updatedAt,
      ]);
    },
    async insertVersion(v) {
      await sql(
        `INSERT INTO mapping_versions (directory_id, version, rules, role_rules, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (directory_id, version) DO NOTHING`,
        [v.directoryId, v.version, JSON.stringify(v.rules), JSON.stringify(v.roleRules), v.createdAt],
      );
    },
    async getVersion(directoryId, version) {
      const [row] = await sql<VersionRow>("SELECT * FROM mapping_versions WHERE directory_id = $1 AND version = $2", [directoryId, version]);
      return row && toVersion(row);
    },
    async insertJob(j) {
      await sql(
        `INSERT INTO remap_jobs (${jobColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [j.id, j.directoryId, j.state, JSON.stringify(j.fromSegments), j.toVersion, j.cursor, j.usersTotal, j.usersProcessed, j.usersChanged, j.startedAt, j.endedAt, j.error],
      );
    },
    async getJob(directoryId, id) {
      const [row] = await sql<JobRow>(`SELECT ${jobColumns} FROM remap_jobs WHERE directory_id = $1 AND id = $2`, [directoryId, id]);
      return row && toJob(row);
    },
    async getJobForUpdate(directoryId, id) {
      const [row] = await sql<JobRow>(`SELECT ${jobColumns} FROM remap_jobs WHERE directory_id = $1 AND id = $2 FOR UPDATE`, [directoryId, id]);
      return row && toJob(row);
    },
    async latestJob(directoryId) {
      const [row] = await sql<JobRow>(`SELECT ${jobColumns} FROM remap_jobs WHERE directory_id = $1 ORDER BY started_at DESC, id DESC LIMIT 1`, [directoryId]);
      return row && toJob(row);
    },
    async runningJob(directoryId, forUpdate) {
      const [row] = await sql<JobRow>(
        `SELECT ${jobColumns} FROM remap_jobs WHERE directory_id = $1 AND state = 'running'${forUpdate ? " FOR UPDATE" : ""}`,
        [directoryId],
      );
      return row && toJob(row);
    },
    async allRunningJobs() {
      return (await sql<JobRow>(`SELECT ${jobColumns} FROM remap_jobs WHERE state = 'running' ORDER BY started_at`)).map(toJob);
    },
    async updateJob(j) {
      await sql(
        `UPDATE remap_jobs SET state = $2, from_segments = $3, cursor = $4, users_total = $5, users_processed = $6, users_changed = $7,
           ended_at = $8, error = $9 WHERE id = $1`,
        [j.id, j.state, JSON.stringify(j.fromSegments), j.cursor, j.usersTotal, j.usersProcessed, j.usersChanged, j.endedAt, j.error],
      );
    },
  };
}
