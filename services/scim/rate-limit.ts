// Per-directory rate limiting: a token bucket per directory, refilled continuously. An IdP
// that exceeds it gets 429 with Retry-After, which Okta and Entra honour by backing off.

export interface RateDecision {
  readonly allowed: boolean;
  /** Whole seconds until a request would be allowed again (at least 1 when refused). */
  readonly retryAfterSeconds: number;
}

// Past this many keys the least recently used buckets are dropped, so memory stays bounded
// whatever the number of callers.
export const MAX_BUCKETS = 10_000;

/**
 * Drops the oldest entries (in insertion order) of a map grown past `max`, a tenth of `max`
 * at a time: dropping one at a time re-walks the deleted slots at the front of the map on
 * each call, which made a flood of new keys quadratic.
 */
export function trimOldest(map: Map<string, unknown>, max: number): void {
  if (map.size <= max) return;
  let excess = map.size - max + Math.ceil(max / 10);
  for (const key of map.keys()) {
    map.delete(key);
    if (--excess <= 0) break;
  }
}

const ALLOWED: RateDecision = { allowed: true, retryAfterSeconds: 0 };

export class RateLimiter {
  private readonly ratePerSecond: number;
  private readonly burst: number;
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /** ratePerSecond 0 disables limiting. */
  constructor(ratePerSecond: number, burst: number) {
    this.ratePerSecond = ratePerSecond;
    this.burst = Math.max(1, burst);
  }

  take(key: string, now: number = performance.now()): RateDecision {
    if (this.ratePerSecond <= 0) return ALLOWED;
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    bucket.tokens = this.refilled(bucket, now);
    bucket.at = now;
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    trimOldest(this.buckets, MAX_BUCKETS);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return ALLOWED;
    }
    return this.refusal(bucket.tokens);
  }

  /** What take() would answer now, without taking. */
  peek(key: string, now: number = performance.now()): RateDecision {
    const bucket = this.buckets.get(key);
    if (this.ratePerSecond <= 0 || bucket === undefined) return ALLOWED;
    const tokens = this.refilled(bucket, now);
    return tokens >= 1 ? ALLOWED : this.refusal(tokens);
  }

  /** Keys with a bucket (at most MAX_BUCKETS). */
  get size(): number {
    return this.buckets.size;
  }

  private refilled(bucket: { tokens: number; at: number }, now: number): number {
    return Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.ratePerSecond);
  }

  private refusal(tokens: number): RateDecision {
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / this.ratePerSecond)) };
  }
}
