import { describe, expect, it } from "vitest";
import { RateLimiter } from "./rate-limit.ts";

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
