// Refused bearer tokens, per client address. Each refusal costs a token lookup and, were it
// audited one row each, a row kept for the audit retention: a client trying random tokens
// could fill the audit table. Refusals are limited per address (a token bucket: beyond it
// 429 with Retry-After, before any lookup) and audited as one record per address and
// window (see AuditBuffer.addRefusedAuth).
//
// A valid token is not refused because its address is: a token that authenticated recently
// is remembered (by digest, never the token) and still looked up while its address is over
// its limit. Only a token not seen before waits out Retry-After there.
import { createHash } from "node:crypto";
import { isIPv6 } from "node:net";
import { RateLimiter, trimOldest, type RateDecision } from "./rate-limit.ts";

// Recently accepted tokens remembered, least recently used dropped first.
const MAX_KNOWN_TOKENS = 10_000;

/**
 * The key refusals are counted under: the IPv4 address, or the /64 of an IPv6 one (a single
 * host commonly holds a whole /64, so one address each would be no limit).
 */
export function clientKey(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined) return "unknown";
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remoteAddress);
  if (mapped) return mapped[1]!;
  if (!isIPv6(remoteAddress)) return remoteAddress;
  const [head = "", tail = ""] = remoteAddress.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === "" ? [] : tail.split(":");
  const groups = remoteAddress.includes("::") ? [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, "")).join(":")}::/64`;
}

const digest = (secret: string) => createHash("sha256").update(secret).digest("base64url");

export class RefusedAuthGuard {
  private readonly limiter: RateLimiter;
  private readonly known = new Map<string, true>();

  /** ratePerSecond 0 turns the limit off. */
  constructor(ratePerSecond: number, burst: number) {
    this.limiter = new RateLimiter(ratePerSecond, burst);
  }

  /** Whether a request from `client` presenting `secret` may be looked up now. */
  check(client: string, secret: string | undefined, now: number = performance.now()): RateDecision {
    const decision = this.limiter.peek(client, now);
    if (decision.allowed || (secret !== undefined && this.known.has(digest(secret)))) return { allowed: true, retryAfterSeconds: 0 };
    return decision;
  }

  /** Counts a refusal; a remembered token refused now (revoked) is forgotten. */
  refused(client: string, secret: string | undefined, now: number = performance.now()): void {
    this.limiter.take(client, now);
    if (secret !== undefined) this.known.delete(digest(secret));
  }

  accepted(secret: string): void {
    const key = digest(secret);
    this.known.delete(key);
    this.known.set(key, true);
    trimOldest(this.known, MAX_KNOWN_TOKENS);
  }

  /** Addresses and tokens remembered, for tests. */
  get size(): { clients: number; tokens: number } {
    return { clients: this.limiter.size, tokens: this.known.size };
  }
}
