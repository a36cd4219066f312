// Prometheus metrics, served at /metrics. One registry per process; each component records
// into the instruments named here, so the names and labels are defined in one place.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { BulkHistogram } from "./bulk-histogram.ts";

export class Metrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: "roster_http_requests_total",
    help: "HTTP requests by route and status code",
    labelNames: ["route", "method", "status"] as const,
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: "roster_http_request_duration_seconds",
    help: "HTTP request latency by route",
    labelNames: ["route", "method"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly rpcRequests = new Counter({
    name: "roster_rpc_requests_total",
    help: "Connect/gRPC calls by procedure and code",
    labelNames: ["procedure", "code"] as const,
    registers: [this.registry],
  });

  readonly rpcDuration = new Histogram({
    name: "roster_rpc_duration_seconds",
    help: "Connect/gRPC call latency by procedure",
    labelNames: ["procedure"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly scimErrors = new Counter({
    name: "roster_scim_errors_total",
    help: "SCIM error responses by status and scimType",
    labelNames: ["status", "scim_type"] as const,
    registers: [this.registry],
  });

  readonly scimRateLimited = new Counter({
    name: "roster_scim_rate_limited_total",
    help: "SCIM requests refused with 429, by the limit that refused them",
    labelNames: ["limit"] as const,
    registers: [this.registry],
  });

  readonly relayPublished = new Counter({
    name: "roster_relay_published_events_total",
    help: "Events published to Kafka",
    registers: [this.registry],
  });

  readonly relayErrors = new Counter({
    name: "roster_relay_errors_total",
    help: "Relay failures (broker or database), each followed by a retry",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });

  readonly relayActive = new Gauge({
    name: "roster_relay_active",
    help: "1 when this process holds the relay lock and publishes, 0 on a standby",
    registers: [this.registry],
  });

  readonly deprovisioningLatency = new Histogram({
    name: "roster_deprovisioning_latency_seconds",
    help: "From a deactivation or deletion being committed to its event being acknowledged by Kafka",
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly deprovisioningBrake = new Counter({
    name: "roster_deprovisioning_brake_total",
    help: "Deprovisioning brake outcomes: held (a hold engaged), alerted, refused (a request refused while held or engaging a hold), released, kept",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });

  // Consumers' revocation of leavers. `directory` is the consumer's directory id, or
  // "global"; `consumer` its name. Registered consumers are bounded (100 per scope).
  readonly consumerRevocation = new BulkHistogram({
    name: "roster_consumer_revocation_seconds",
    help: "From a leaver event (deactivation, deletion, last role removed) to the consumer's first acknowledgement at or beyond it",
    labelNames: ["directory", "consumer"] as const,
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 14_400, 86_400],
    registers: [this.registry],
  });

  readonly consumerUnrevoked = new Gauge({
    name: "roster_consumer_unrevoked_users",
    help: "Leavers the consumer has not acknowledged within its revocation objective, at the last check",
    labelNames: ["directory", "consumer"] as const,
    registers: [this.registry],
  });

  readonly consumerObjectiveMissed = new Counter({
    name: "roster_consumer_objective_missed_total",
    help: "Leavers whose revocation objective passed before the consumer acknowledged them (each counted once)",
    labelNames: ["directory", "consumer"] as const,
    registers: [this.registry],
  });

  private outboxWatched = false;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "roster_" });
  }

  /**
   * Registers the outbox gauges, read at scrape time from `read` (the database, cached by the
   * caller). Only a process that reaches the database calls it: a SCIM facade alone shows no
   * lag rather than a false 0, and with every relay dead the core still reports the truth.
   * The first caller wins (core and relay in one process share the figures).
   */
  watchOutbox(read: () => Promise<OutboxFigures>): void {
    if (this.outboxWatched) return;
    this.outboxWatched = true;
    const gauge = (name: string, help: string, pick: (f: OutboxFigures) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        async collect() {
          this.set(pick(await read()));
        },
      });
    gauge("roster_outbox_unpublished_events", "Events committed but not yet published (parked subjects apart)", (f) => f.unpublished);
    gauge("roster_outbox_lag_seconds", "Age of the oldest unpublished event (parked subjects apart)", (f) => f.lagSeconds);
    gauge("roster_outbox_parked_events", "Events held because the broker refused one of their subject's events for good", (f) => f.parked);
  }
}

/** The outbox as the lag gauges report it; NaN when it could never be measured. */
export interface OutboxFigures {
  readonly unpublished: number;
  readonly lagSeconds: number;
  readonly parked: number;
}
