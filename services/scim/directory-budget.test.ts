import { describe, expect, it } from "vitest";
import { DirectoryBudget, scimRequestCost } from "./directory-budget.ts";

const settled = async (p: Promise<boolean>) => Promise.race([p, new Promise<"pending">((r) => setImmediate(() => r("pending")))]);

describe("DirectoryBudget", () => {
  it("runs a directory's requests while their cost fits, queues the next, refuses the rest", async () => {
    const bound = new DirectoryBudget(4, 1);
    const a1 = bound.enter("a", 2)!;
    const a2 = bound.enter("a", 2)!;
    const a3 = bound.enter("a", 1)!;
    expect(await settled(a1.granted)).toBe(true);
    expect(await settled(a2.granted)).toBe(true);
    expect(await settled(a3.granted)).toBe("pending");
    const refused = bound.enter("a", 1);
    expect(refused).toBeUndefined();
    expect(bound.load("a")).toEqual({ inUse: 4, waiting: 1 });

    // Another directory is not behind a's queue.
    const b1 = bound.enter("b", 4)!;
    expect(await settled(b1.granted)).toBe(true);

    a1.leave();
    a1.leave(); // twice is once
    expect(await settled(a3.granted)).toBe(true);
    expect(bound.load("a")).toEqual({ inUse: 3, waiting: 0 });
    a2.leave();
    a3.leave();
    b1.leave();
    expect(bound.load("a")).toEqual({ inUse: 0, waiting: 0 });
    expect(bound.activeDirectories).toBe(0);
  });

  it("runs a request dearer than the whole budget alone, and lets nothing overtake it", async () => {
    const bound = new DirectoryBudget(4, 10);
    const cheap = bound.enter("a", 1)!;
    const dear = bound.enter("a", 1_000)!;
    const after = bound.enter("a", 1)!;
    expect(await settled(dear.granted)).toBe("pending");
    expect(await settled(after.granted)).toBe("pending");
    cheap.leave();
    expect(await settled(dear.granted)).toBe(true);
    expect(await settled(after.granted)).toBe("pending");
    dear.leave();
    expect(await settled(after.granted)).toBe(true);
    after.leave();
  });

  it("frees the place of a request that leaves while waiting", async () => {
    const bound = new DirectoryBudget(1, 2);
    const running = bound.enter("a", 1)!;
    const gone = bound.enter("a", 1)!;
    const next = bound.enter("a", 1)!;
    gone.leave();
    expect(await gone.granted).toBe(false);
    expect(bound.load("a")).toEqual({ inUse: 1, waiting: 1 });
    running.leave();
    expect(await settled(next.granted)).toBe(true);
    next.leave();
    expect(bound.load("a")).toEqual({ inUse: 0, waiting: 0 });
  });

  it("keeps a running request's cost counted when its client goes away", async () => {
    const bound = new DirectoryBudget(1, 1);
    const running = bound.enter("a", 1)!;
    const waiting = bound.enter("a", 1)!;
    running.abandon();
    expect(bound.load("a")).toEqual({ inUse: 1, waiting: 1 });
    waiting.abandon();
    expect(await waiting.granted).toBe(false);
    expect(bound.load("a")).toEqual({ inUse: 1, waiting: 0 });
    running.leave();
    expect(bound.load("a")).toEqual({ inUse: 0, waiting: 0 });
  });

  it("keeps no state for idle directories across 100,000 of them", () => {
    const bound = new DirectoryBudget(4, 8);
    for (let i = 0; i < 100_000; i++) bound.enter(`d${i}`, 1)!.leave();
    expect(bound.activeDirectories).toBe(0);
  });

  it("is off at budget 0", async () => {
    const bound = new DirectoryBudget(0, 0);
    for (let i = 0; i < 1000; i++) expect(await bound.enter("a", 100)!.granted).toBe(true);
  });
});

describe("scimRequestCost", () => {
  const cost = (method: string, pathAndQuery: string) => {
    const url = new URL(pathAndQuery, "http://x");
    return scimRequestCost(method, url.pathname, url.searchParams);
  };
  it("charges one for a resource and a page's worth for a list", () => {
    expect(cost("GET", "/Users/123")).toBe(1);
    expect(cost("POST", "/Users")).toBe(1);
    expect(cost("GET", "/Groups/9")).toBe(1);
    expect(cost("GET", "/ServiceProviderConfig")).toBe(1);
    expect(cost("GET", "/Users")).toBe(10);
    expect(cost("GET", "/users?count=200")).toBe(20);
    expect(cost("GET", "/Users?count=1000000")).toBe(100);
    expect(cost("GET", "/Users?count=abc")).toBe(10);
    expect(cost("GET", "/Groups?count=0")).toBe(1);
    expect(cost("GET", `/Users?filter=${encodeURIComponent('userName eq "a@example.com"')}`)).toBe(1);
    expect(cost("GET", `/Users?count=500&filter=${encodeURIComponent('userName sw "a"')}`)).toBe(50);
    expect(cost("POST", "/Users/.search")).toBe(10);
    expect(cost("POST", "/Bulk")).toBe(Number.POSITIVE_INFINITY);
  });
  it("charges four for a write of a group, which may change thousands of memberships at once", () => {
    for (const [method, path] of [["POST", "/Groups"], ["PUT", "/Groups/9"], ["PATCH", "/groups/9"], ["DELETE", "/Groups/9"]] as const) {
      expect(cost(method, path), `${method} ${path}`).toBe(4);
    }
    expect(cost("POST", "/Groups/.search")).toBe(10);
    expect(cost("PATCH", "/Users/9")).toBe(1);
  });
});
