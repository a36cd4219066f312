// Reports a StreamEvents consumer's progress to Roster (ConsumerService.AcknowledgeEvents):
// the cursor of the last event its handler finished with, at most once per interval, never
// two reports at once, and the last one on close. Roster measures each leaver's revocation
// latency from these reports.
import type { Client } from "@connectrpc/connect";
import type { ConsumerService } from "./gen/roster/consumers/v1/consumers_pb.js";

export interface AcknowledgeOptions {
  /** A ConsumerService client (`clients.consumers`). */
  client: Client<typeof ConsumerService>;
  /** The consumer's name, as registered (RegisterConsumer, `roster consumers register`). */
  consumer: string;
  /** At most one report per interval, ms; default 1000. */
  intervalMs?: number;
  /** Told about a report that failed (the next one carries the progress again). */
  onError?: (error: unknown) => void;
}

export class Acknowledger {
  private readonly o: AcknowledgeOptions;
  private readonly directoryId: string;
  private pending: string | undefined;
  private inflight: Promise<void> | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(directoryId: string, options: AcknowledgeOptions) {
    this.directoryId = directoryId;
    this.o = options;
  }

  /** Everything up to this cursor has been applied. */
  handled(cursor: string): void {
    this.pending = cursor;
    this.schedule();
  }

  private schedule(): void {
    if (this.closed || this.timer !== undefined || this.inflight !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.o.intervalMs ?? 1_000);
  }

  private flush(): Promise<void> {
    const cursor = this.pending;
    if (cursor === undefined) return this.inflight ?? Promise.resolve();
    this.pending = undefined;
    this.inflight = this.o.client
      .acknowledgeEvents({ directoryId: this.directoryId, name: this.o.consumer, cursor })
      .then(
        () => {},
        (error: unknown) => {
          // Reported again with the next progress, unless newer progress came meanwhile.
          this.pending ??= cursor;
          this.o.onError?.(error);
        },
      )
      .finally(() => {
        this.inflight = undefined;
        if (this.pending !== undefined && !this.closed) this.schedule();
      });
    return this.inflight;
  }

  private closed = false;

  /** Sends what is pending, once, and stops. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.inflight;
    await this.flush();
  }
}
