// LISTEN on one Postgres channel over a dedicated connection that reconnects by itself.
// Notifications are wake-up hints only: callers always poll too, so a notification lost
// while reconnecting costs latency, never data.
import pg from "pg";
import type { Logger } from "./logger.ts";

export class Notifier {
  private readonly url: string;
  private readonly channel: string;
  private readonly logger: Logger;
  private client: pg.Client | undefined;
  private closed = false;
  private readonly waiters = new Set<() => void>();
  private retryTimer: NodeJS.Timeout | undefined;
  private count = 0;

  constructor(url: string, channel: string, logger: Logger) {
    this.url = url;
    this.channel = channel;
    this.logger = logger;
  }

  start(): void {
    void this.connect(250);
  }

  private async connect(backoffMs: number): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 3_000, keepAlive: true });
    client.on("error", () => {});
    client.on("notification", () => this.wakeAll());
    client.on("end", () => {
      if (this.client === client) this.client = undefined;
      if (!this.closed) this.scheduleReconnect(250);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
      if (this.closed) {
        await client.end().catch(() => {});
        return;
      }
      this.client = client;
      // Anything sent while we were away is now due.
      this.wakeAll();
    } catch (error) {
      this.logger.debug({ err: error, channel: this.channel }, "LISTEN connection failed; retrying");
      await client.end().catch(() => {});
      this.scheduleReconnect(Math.min(backoffMs * 2, 5_000));
    }
  }

  private scheduleReconnect(ms: number): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.connect(ms);
    }, ms);
  }

  /**
   * Counts notifications (and reconnections). Read it before polling and pass it to wait():
   * a notification that arrived in between then ends the wait at once instead of being lost.
   */
  get generation(): number {
    return this.count;
  }

  private wakeAll(): void {
    this.count++;
    for (const wake of [...this.waiters]) wake();
  }

  /**
   * Resolves on the next notification (or at once if one came after `since`), after
   * timeoutMs, or when the signal aborts.
   */
  wait(timeoutMs: number, signal?: AbortSignal, since?: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed || signal?.aborted || (since !== undefined && this.count > since)) return resolve();
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.wakeAll();
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }
}
