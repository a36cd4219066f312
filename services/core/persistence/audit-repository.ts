// The SCIM audit log in SQL: appended in batches, read newest first, purged by age.
import type { AuditRepository } from "../application/store.ts";
import type { AuditRecord } from "../domain/audit.ts";
import { isDataException, toDate, type Sql } from "../../platform/sql.ts";

interface AuditRow {
  id: string;
  directory_id: string | null;
  request_id: string;
  method: string;
  path: string;
  status: number;
  scim_type: string;
  latency_ms: number;
  at: Date | string;
  request_body: unknown;
  response_body: unknown;
}

const toRecord = (r: AuditRow): AuditRecord => ({
  id: r.id,
  directoryId: r.directory_id,
  requestId: r.request_id,
  method: r.method,
  path: r.path,
  status: r.status,
  scimType: r.scim_type,
  latencyMs: r.latency_ms,
  at: toDate(r.at),
  requestBody: r.request_body ?? undefined,
  responseBody: r.response_body ?? undefined,
});

const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));

async function insert(sql: Sql, records: readonly AuditRecord[]): Promise<void> {
  await sql(
    `INSERT INTO scim_audit (id, directory_id, request_id, method, path, status, scim_type, latency_ms, at, request_body, response_body)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[], $8::int[], $9::timestamptz[], $10::jsonb[], $11::jsonb[])
     ON CONFLICT (id) DO NOTHING`,
    [
      records.map((r) => r.id),
      records.map((r) => r.directoryId),
      records.map((r) => r.requestId),
      records.map((r) => r.method),
      records.map((r) => r.path),
      records.map((r) => r.status),
      records.map((r) => r.scimType),
      records.map((r) => r.latencyMs),
      records.map((r) => r.at),
      records.map((r) => json(r.requestBody)),
      records.map((r) => json(r.responseBody)),
    ],
  );
}

export function auditRepository(sql: Sql): AuditRepository {
  return {
    async append(records) {
      if (records.length === 0) return { dropped: 0 };
      try {
        await insert(sql, records);
        return { dropped: 0 };
      } catch (error) {
        if (!isDataException(error)) throw error;
      }
      // Some record's values were refused: store the others one by one, leave it out.
      let dropped = 0;
      for (const record of records) {
        try {
          await insert(sql, [record]);
        } catch (error) {
          if (!isDataException(error)) throw error;
          dropped++;
        }
      }
      return { dropped };
    },
    async list(directoryId, query) {
      const rows = await sql<AuditRow>(
        `SELECT * FROM scim_audit
         WHERE directory_id = $1 AND ($2::timestamptz IS NULL OR at >= $2) AND ($3::int = 0 OR status = $3)
           AND ($4::timestamptz IS NULL OR (at, id) < ($4::timestamptz, $5::uuid))
         ORDER BY at DESC, id DESC LIMIT $6`,
        [directoryId, query.since ?? null, query.status, query.before?.at ?? null, query.before?.id ?? null, query.limit],
      );
      return rows.map(toRecord);
    },
    async purgeBefore(cutoff, batch) {
      // Bounded batches keep each delete short, so writers never wait on it for long.
      const rows = await sql<{ n: string }>(
        `WITH gone AS (DELETE FROM scim_audit WHERE id IN (SELECT id FROM scim_audit WHERE at < $1 LIMIT $2) RETURNING 1)
         SELECT count(*) AS n FROM gone`,
        [cutoff, batch],
      );
      return Number(rows[0]?.n ?? 0);
    },
  };
}
