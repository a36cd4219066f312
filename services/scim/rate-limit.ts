// Per-directory rate limiting: a token bucket per directory, refilled continuously. An IdP
// that exceeds it gets 429 with Retry-After, which Okta and Entra honour by backing off.

export interface RateDecision {
  readonly allowed: boolean;
  /** Whole seconds until a request would be allowed again (at least 1 when refused). */
  readonly retryAfterSeconds: number;
}

// Buckets idle long enough to be full again are dropped, so memory stays bounded by the
// number of directories active in that window.
const MAX_BUCKETS = 10_000;

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
    if (this.ratePerSecond <= 0) return { allowed: true, retryAfterSeconds: 0 };
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.ratePerSecond);
    bucket.at = now;
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    if (this.buckets.size > MAX_BUCKETS) this.buckets.delete(this.buckets.keys().next().value!);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true, retryAfterSeconds: 0 };
    }
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.ratePerSecond)) };
  }
}
