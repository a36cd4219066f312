import { describe, expect, it } from "vitest";
import { MAX_BUCKETS, RateLimiter } from "./rate-limit.ts";

describe("RateLimiter", () => {
  it("allows a burst, then refuses with a Retry-After until tokens refill", () => {
    const limiter = new RateLimiter(2, 3);
    const t0 = 1_000;
    expect([1, 2, 3].map(() => limiter.take("a", t0).allowed)).toEqual([true, true, true]);
    const refused = limiter.take("a", t0);
    expect(refused).toEqual({ allowed: false, retryAfterSeconds: 1 });
    // Half a second refills one token at 2/s.
    expect(limiter.take("a", t0 + 500).allowed).toBe(true);
    expect(limiter.take("a", t0 + 500).allowed).toBe(false);
  });

  it("keeps directories apart", () => {
    const limiter = new RateLimiter(1, 1);
    expect(limiter.take("a", 0).allowed).toBe(true);
    expect(limiter.take("a", 0).allowed).toBe(false);
    expect(limiter.take("b", 0).allowed).toBe(true);
  });

  it("is off at rate 0", () => {
    const limiter = new RateLimiter(0, 0);
    for (let i = 0; i < 1000; i++) expect(limiter.take("a", 0).allowed).toBe(true);
  });
});

describe("RateLimiter.peek", () => {
  it("answers as take would, without taking", () => {
    const limiter = new RateLimiter(1, 2);
    expect(limiter.peek("a", 0)).toEqual({ allowed: true, retryAfterSeconds: 0 });
    limiter.take("a", 0);
    limiter.take("a", 0);
    expect(limiter.peek("a", 0)).toEqual({ allowed: false, retryAfterSeconds: 1 });
    expect(limiter.peek("a", 0)).toEqual({ allowed: false, retryAfterSeconds: 1 });
    expect(limiter.peek("a", 1_000).allowed).toBe(true);
  });

  it("keeps at most MAX_BUCKETS keys, whatever the number of callers", () => {
    const limiter = new RateLimiter(1, 1);
    for (let i = 0; i < 100_000; i++) limiter.take(`k${i}`, 0);
    expect(limiter.size).toBeLessThanOrEqual(MAX_BUCKETS);
    expect(limiter.size).toBeGreaterThan(MAX_BUCKETS / 2);
    // The most recent callers are the ones kept.
    expect(limiter.peek("k99999", 0).allowed).toBe(false);
  });
});
