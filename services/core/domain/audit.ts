// One audited SCIM call as the core keeps it. The facade redacts every secret before it
// sends a record (services/platform/scim/redaction.ts), and the core redacts again on append.

export interface AuditRecord {
  readonly id: string;
  readonly directoryId: string | null;
  readonly requestId: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly scimType: string;
  readonly latencyMs: number;
  readonly at: Date;
  readonly requestBody: unknown;
  readonly responseBody: unknown;
}
