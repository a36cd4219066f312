// Use cases of the SCIM audit log.
import type { AuditRecord } from "../domain/audit.ts";
import { auditedCall } from "../../platform/scim/redaction.ts";
import { storableText } from "../../platform/json-limits.ts";
import { checkId, isId } from "../domain/directory.ts";
import { InvalidInputError } from "../domain/errors.ts";
import { checkPageSize, decodePageToken, encodePageToken } from "../domain/paging.ts";
import type { Store } from "./store.ts";

export const MAX_AUDIT_BATCH = 1000;
const PURGE_BATCH = 5_000;

export class AuditUseCases {
  private readonly store: Store;
  constructor(store: Store) {
    this.store = store;
  }

  /**
   * Stores records from the SCIM facade; bodies are redacted again here, whoever sent them.
   * Returns how many records the database refused (each dropped alone, the others stored).
   */
  async append(records: readonly AuditRecord[]): Promise<{ dropped: number }> {
    if (records.length > MAX_AUDIT_BATCH) throw new InvalidInputError("tooMany", `at most ${MAX_AUDIT_BATCH} audit records per call`);
    const checked = records.map((r) => {
      if (!isId(r.id)) throw new InvalidInputError("invalidValue", "audit record id must be a UUID");
      if (r.directoryId !== null && !isId(r.directoryId)) throw new InvalidInputError("invalidValue", "audit record directory_id must be a UUID");
      const audited = auditedCall(r.path, r.requestBody, r.responseBody);
      // Text Postgres cannot hold is replaced, not refused: one bad record must not cost the
      // rest of its batch, nor be retried for ever by the facade.
      const text = (value: string, max: number) => storableText(value.slice(0, max));
      return {
        ...r,
        method: text(r.method, 16),
        path: text(audited.path, 2048),
        requestId: text(r.requestId, 128),
        scimType: text(r.scimType, 64),
        requestBody: audited.requestBody,
        responseBody: audited.responseBody,
      };
    });
    return this.store.read.audit.append(checked);
  }

  async list(input: { directoryId: string; pageSize: number; pageToken: string; since: Date | undefined; status: number }): Promise<{ records: AuditRecord[]; nextPageToken: string }> {
    const directoryId = checkId("directory_id", input.directoryId);
    const limit = checkPageSize(input.pageSize, 100, 1000);
    let before: { at: Date; id: string } | undefined;
    if (input.pageToken !== "") {
      const token = decodePageToken(input.pageToken);
      if (typeof token.at !== "string" || typeof token.id !== "string" || !isId(token.id)) throw new InvalidInputError("invalidValue", "page_token is not one this service issued");
      before = { at: new Date(token.at), id: token.id };
    }
    const rows = await this.store.read.audit.list(directoryId, { since: input.since, status: input.status, before, limit: limit + 1 });
    const records = rows.slice(0, limit);
    const last = records.at(-1);
    return { records, nextPageToken: rows.length > limit && last ? encodePageToken({ at: last.at.toISOString(), id: last.id }) : "" };
  }

  /** Deletes records older than the retention window, in bounded batches; returns how many. */
  async purge(retentionMs: number, now = new Date()): Promise<number> {
    const cutoff = new Date(now.getTime() - retentionMs);
    let total = 0;
    for (;;) {
      const n = await this.store.read.audit.purgeBefore(cutoff, PURGE_BATCH);
      total += n;
      if (n < PURGE_BATCH) return total;
    }
  }
}
