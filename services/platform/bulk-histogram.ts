// A Prometheus histogram that takes many observations at once, already counted per bucket:
// the revocation latencies of a consumer that acknowledges 100,000 leavers in one report are
// bucketed by one SQL statement, and recorded here in one call, not one observe() each.
import type { Registry } from "prom-client";

interface Series {
  readonly labels: Record<string, string>;
  /** Per bucket (the last is +Inf), not cumulative. */
  readonly counts: number[];
  sum: number;
}

export class BulkHistogram<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly type = "histogram";
  readonly aggregator = "sum";
  /** Upper bounds, ascending; +Inf is implicit. */
  readonly buckets: readonly number[];
  private readonly labelNames: readonly L[];
  private readonly series = new Map<string, Series>();

  constructor(options: { name: string; help: string; labelNames: readonly L[]; buckets: readonly number[]; registers: Registry[] }) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames;
    this.buckets = options.buckets;
    for (const registry of options.registers) registry.registerMetric(this as never);
  }

  /**
   * Adds observations: counts[i] of them fell in bucket i (value <= buckets[i], above the
   * bucket before; i = buckets.length is +Inf), their values summing to `sum`.
   */
  add(labels: Record<L, string>, counts: ReadonlyMap<number, number>, sum: number): void {
    const key = this.labelNames.map((l) => labels[l]).join("\u0000");
    let series = this.series.get(key);
    if (!series) {
      series = { labels: { ...labels }, counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0 };
      this.series.set(key, series);
    }
    for (const [i, n] of counts) {
      if (!Number.isInteger(i) || i < 0 || i > this.buckets.length) throw new RangeError(`no bucket ${i}`);
      series.counts[i]! += n;
    }
    series.sum += sum;
  }

  get() {
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += s.counts[i]!;
        values.push({ labels: { ...s.labels, le }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      cumulative += s.counts[this.buckets.length]!;
      values.push({ labels: { ...s.labels, le: "+Inf" }, value: cumulative, metricName: `${this.name}_bucket` });
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: s.labels, value: cumulative, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.series.clear();
  }
}
