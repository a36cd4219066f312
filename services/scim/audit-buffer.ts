// SCIM calls are audited off the request path: records are buffered and sent to the core
// in batches, so an audited call costs no extra round trip. Records buffered when the
// process dies are lost; the flush interval bounds how many.
import type { AuditRecord } from "../core/domain/audit.ts";
import { auditRecordToPb } from "../core/transport/convert.ts";
import type { Logger } from "../platform/logger.ts";
import type { CoreClient } from "./core-client.ts";

const FLUSH_INTERVAL_MS = 250;
const MAX_BATCH = 500;
// Beyond this many waiting records (the core unreachable for long) the oldest are dropped
// and counted, rather than growing memory without bound.
const MAX_BUFFERED = 50_000;

export class AuditBuffer {
  private readonly core: CoreClient;
  private readonly logger: Logger;
  private buffer: AuditRecord[] = [];
  private dropped = 0;
  private flushing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(core: CoreClient, logger: Logger) {
    this.core = core;
    this.logger = logger;
    this.timer = setInterval(() => void this.flush(), FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  add(record: AuditRecord): void {
    this.buffer.push(record);
    if (this.buffer.length > MAX_BUFFERED) {
      this.buffer.shift();
      this.dropped++;
    }
  }

  /** Sends what is buffered; concurrent calls share one flush. */
  flush(): Promise<void> {
    this.flushing ??= this.send().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private async send(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.slice(0, MAX_BATCH);
      try {
        await this.core.appendScimAuditRecords({ records: batch.map(auditRecordToPb) });
        this.buffer.splice(0, batch.length);
      } catch (error) {
        this.logger.warn({ err: error, waiting: this.buffer.length }, "could not store SCIM audit records; will retry");
        return;
      }
    }
    if (this.dropped > 0) {
      this.logger.error({ dropped: this.dropped }, "SCIM audit records dropped while the core was unreachable");
      this.dropped = 0;
    }
  }
}
