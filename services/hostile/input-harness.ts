// Helpers of the hostile-input tests: what a directory has stored (to prove a refused call
// changed nothing), waiting for a call's audit record, and the ledger of every secret a test
// sent, scanned for in the logs and the audit log at the end of a file.
import { expect } from "vitest";
import { ApiKeyScope, DirectoryService } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { queryDatabase } from "../testing/database.ts";
import type { TestRoster } from "../testing/roster.ts";

/** Every row and event a directory has, in a comparable form. */
export async function storedState(t: TestRoster, directoryId: string): Promise<unknown> {
  const q = (sql: string) => queryDatabase(t.database.url, sql, [directoryId]);
  return {
    users: await q(`SELECT id, version, resource FROM users WHERE directory_id = $1 ORDER BY id`),
    groups: await q(`SELECT id, version, resource FROM groups WHERE directory_id = $1 ORDER BY id`),
    events: await q(`SELECT id FROM outbox_events WHERE directory_id = $1 ORDER BY seq`),
  };
}

/** Waits until the audit log holds a record of the call with this request id; returns it. */
export async function auditRecordOf(t: TestRoster, directoryId: string, requestId: string, timeoutMs = 5_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await queryDatabase(t.database.url, `SELECT * FROM scim_audit WHERE directory_id = $1 AND request_id = $2`, [directoryId, requestId]);
    if (rows[0]) return rows[0];
    if (Date.now() > deadline) throw new Error(`no audit record of request ${requestId} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The process still answers and its database is reachable. */
export async function expectReady(t: TestRoster): Promise<void> {
  expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
}

/** Secrets (passwords, tokens, keys) a test file sent; none may be found in logs or audit. */
export class SecretLedger {
  private readonly secrets = new Set<string>();

  /** Records a secret and returns it, so tests write `ledger.secret("pw-...")`. */
  secret(value: string): string {
    this.secrets.add(value);
    return value;
  }

  /** A fresh, recognisable password. */
  password(): string {
    return this.secret(`pw-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}`);
  }

  /**
   * Reads every log line and every audit record (through ListScimAuditRecords with a read
   * key, as an auditor would, and the table itself for records of no directory) and fails on
   * any secret found.
   */
  async scan(t: TestRoster, directoryIds: readonly string[]): Promise<void> {
    // Records reach the core within a flush interval.
    await new Promise((r) => setTimeout(r, 600));
    const admin = t.client(DirectoryService);
    const { secret: readKey } = await admin.createApiKey({ name: "secret scan", scope: ApiKeyScope.READ });
    const reader = t.client(DirectoryService, readKey);
    const audit: unknown[] = [];
    for (const directoryId of directoryIds) {
      let pageToken = "";
      do {
        const page = await reader.listScimAuditRecords({ directoryId, pageSize: 1000, pageToken });
        audit.push(...page.records);
        pageToken = page.nextPageToken;
      } while (pageToken !== "");
    }
    audit.push(...(await queryDatabase(t.database.url, `SELECT * FROM scim_audit WHERE directory_id IS NULL`)));
    const auditText = JSON.stringify(audit, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v));
    const logText = t.logs.join("");
    expect(audit.length).toBeGreaterThan(0);
    for (const secret of this.secrets) {
      // A secret is sent inside JSON too, so it may be stored with JSON escapes.
      for (const form of new Set([secret, JSON.stringify(secret).slice(1, -1)])) {
        expect(logText.includes(form), `a log line holds the secret ${JSON.stringify(secret)}`).toBe(false);
        expect(auditText.includes(form), `an audit record holds the secret ${JSON.stringify(secret)}`).toBe(false);
      }
    }
  }
}
