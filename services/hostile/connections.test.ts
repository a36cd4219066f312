// Hostile clients against the real server: made-up paths must not grow the metrics, slow or
// silent connections must be closed, refused tokens must not fill the audit log, and one
// directory's flood must not take another's share of the process.
import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestRoster, type TestRoster } from "../testing/roster.ts";

async function metricsText(url: string): Promise<string> {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

/** Distinct values of one label across the samples of one metric. */
function labelValues(text: string, metric: string, label: string): Set<string> {
  const values = new Set<string>();
  const pattern = new RegExp(`${label}="([^"]*)"`);
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${metric}{`)) continue;
    const match = pattern.exec(line);
    if (match) values.add(match[1]!);
  }
  return values;
}

function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers);
    let status = 0;
    stream.on("response", (h) => (status = Number(h[":status"])));
    stream.on("error", reject);
    stream.resume();
    stream.on("close", () => resolve(status));
    stream.end();
  });
}

describe("metrics under made-up paths and methods", () => {
  let t: TestRoster;
  beforeAll(async () => {
    t = await startTestRoster();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("labels by route template only, so /metrics stays the same size", async () => {
    const made = async (n: number, offset: number) => {
      for (let i = offset; i < offset + n; i++) {
        const paths = [`/scim/v2/nope${i}`, `/scim/v2/Users/${i}/extra`, `/roster.x.v1.FakeService/Call${i}`, `/made-up/${i}`];
        for (const path of paths) await (await fetch(`${t.url}${path}`, { method: i % 2 === 0 ? "GET" : "POST" })).arrayBuffer();
      }
      // HTTP/2 lets a client send any method token.
      const session = http2.connect(t.url);
      for (let i = offset; i < offset + n; i++) await h2Request(session, { ":method": `M${i}`, ":path": `/scim/v2/Users/${i}` });
      session.close();
    };
    await made(50, 0);
    await metricsText(t.url);
    const before = await metricsText(t.url);
    await made(500, 50);
    const after = await metricsText(t.url);

    const routes = labelValues(after, "roster_http_requests_total", "route");
    expect([...routes].every((r) => ["/scim/v2/{unknown}", "/scim/v2/Users/{id}", "other", "/metrics"].includes(r))).toBe(true);
    expect(labelValues(after, "roster_http_requests_total", "method")).toEqual(new Set(["GET", "POST", "other"]));
    // Counts change, series do not: ten times the made-up paths, the same HTTP series.
    const series = (text: string) => text.split("\n").filter((l) => l.startsWith("roster_http")).map((l) => l.slice(0, l.lastIndexOf(" ")));
    expect(series(after)).toEqual(series(before));
    expect(after.length).toBeLessThan(before.length + 2_000);
  });

  it("keeps a label for each served procedure and SCIM endpoint", async () => {
    await (await fetch(`${t.url}/scim/v2/users/123`)).arrayBuffer();
    await (await fetch(`${t.url}/scim/v2/Users/.search`, { method: "POST" })).arrayBuffer();
    await (await fetch(`${t.url}/roster.directory.v1.DirectoryService/ListDirectories`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).arrayBuffer();
    const routes = labelValues(await metricsText(t.url), "roster_http_requests_total", "route");
    expect(routes).toContain("/scim/v2/Users/{id}");
    expect(routes).toContain("/scim/v2/Users/.search");
    expect(routes).toContain("/roster.directory.v1.DirectoryService/ListDirectories");
  });
});
