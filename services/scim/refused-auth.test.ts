import { describe, expect, it } from "vitest";
import { clientKey, RefusedAuthGuard } from "./refused-auth.ts";

describe("RefusedAuthGuard", () => {
  it("limits refusals per client, but still looks up a token that authenticated before", () => {
    const guard = new RefusedAuthGuard(1, 3);
    guard.accepted("good-token");
    for (let i = 0; i < 3; i++) {
      expect(guard.check("1.2.3.4", "random", 0).allowed).toBe(true);
      guard.refused("1.2.3.4", "random", 0);
    }
    expect(guard.check("1.2.3.4", "random", 0)).toEqual({ allowed: false, retryAfterSeconds: 1 });
    expect(guard.check("1.2.3.4", undefined, 0).allowed).toBe(false);
    expect(guard.check("1.2.3.4", "good-token", 0).allowed).toBe(true);
    // Revoked since: refused once more, then it waits like any other.
    guard.refused("1.2.3.4", "good-token", 0);
    expect(guard.check("1.2.3.4", "good-token", 0).allowed).toBe(false);
    // Other clients are not concerned, and the limit refills.
    expect(guard.check("5.6.7.8", "random", 0).allowed).toBe(true);
    expect(guard.check("1.2.3.4", "random", 1_000).allowed).toBe(true);
  });

  it("keeps bounded state under a flood from 100,000 addresses", () => {
    const guard = new RefusedAuthGuard(1, 1);
    for (let i = 0; i < 100_000; i++) guard.refused(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, undefined, 0);
    for (let i = 0; i < 100_000; i++) guard.accepted(`token-${i}`);
    expect(guard.size.clients).toBeLessThanOrEqual(10_000);
    expect(guard.size.tokens).toBeLessThanOrEqual(10_000);
  });
});

describe("clientKey", () => {
  it("counts IPv4 by address and IPv6 by /64", () => {
    expect(clientKey("192.0.2.7")).toBe("192.0.2.7");
    expect(clientKey("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(clientKey("2001:db8:1:2:3:4:5:6")).toBe("2001:db8:1:2::/64");
    expect(clientKey("2001:DB8:1:2::99")).toBe("2001:db8:1:2::/64");
    expect(clientKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(clientKey("::1")).toBe("0:0:0:0::/64");
    expect(clientKey(undefined)).toBe("unknown");
  });
});
