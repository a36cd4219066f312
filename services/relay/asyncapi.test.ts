// docs/asyncapi.yaml is the topics' contract: valid for the AsyncAPI parser, and true to the
// code: its addresses are the configuration's default topics, and every message the relay
// builds (each kind of row, each value format) matches one of its channel's messages:
// content-type, header names, required headers, enumerated values, protobuf message names.
import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Parser, type AsyncAPIDocumentInterface } from "@asyncapi/parser";
import { fromBinary } from "@bufbuild/protobuf";
import { EventSchema } from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { SubjectStateSchema } from "@roster/sdk/gen/roster/events/v1/state_pb.js";
import { CLOUDEVENTS_TYPE_PREFIX, EVENT_TYPES } from "../../sdk/src/events.ts";
import { loadConfig, type ValueFormat } from "../config.ts";
import type { NewEvent } from "../core/domain/events.ts";
import { eventToPb, storedEventMessage } from "../core/transport/event-codec.ts";
import { withPosition, type StoredEvent } from "../event-log/index.ts";
import { outboundMessages, type LifecycleTopics } from "./outbound.ts";
import type { OutboundMessage } from "./publisher.ts";

const root = path.resolve(import.meta.dirname, "../..");
const source = readFileSync(path.join(root, "docs/asyncapi.yaml"), "utf8");

type JsonSchema = {
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  const?: unknown;
  type?: string;
  allOf?: JsonSchema[];
  "x-protobuf-message"?: string;
  "x-protobuf-file"?: string;
};

let document: AsyncAPIDocumentInterface;

beforeAll(async () => {
  const { document: parsed, diagnostics } = await new Parser().parse(source, { source: path.join(root, "docs/asyncapi.yaml") });
  // Severity 0 is an error, 1 a warning: neither is allowed.
  const problems = diagnostics.filter((d) => d.severity <= 1).map((d) => `${d.path.join(".")}: ${d.message}`);
  expect(problems).toEqual([]);
  document = parsed!;
});

const CHANNEL_TOPICS = { userEvents: "userTopic", groupEvents: "groupTopic", userState: "userStateTopic", groupState: "groupStateTopic" } as const;

function channelMessages(channelId: keyof typeof CHANNEL_TOPICS) {
  const channel = document.channels().get(channelId)!;
  return channel.messages().all().map((m) => ({ contentType: m.contentType(), headers: m.headers()?.json() as JsonSchema, payload: m.payload()?.json() as JsonSchema }));
}

const now = new Date("2026-01-02T03:04:05.678Z");
const user = { id: "u1", directoryId: "d1", userName: "ada@example.com", state: "active", resource: { userName: "ada@example.com" }, version: 2, createdAt: now.toISOString(), updatedAt: now.toISOString() };
const group = { id: "g1", directoryId: "d1", displayName: "eng", memberCount: 3, resource: {}, version: 1, createdAt: now.toISOString(), updatedAt: now.toISOString() };
const row = (subjectType: StoredEvent["subjectType"], type: string, payload: Record<string, unknown>, sequence = 2n): StoredEvent => ({
  seq: 1n,
  id: `e-${type}`,
  directoryId: "d1",
  subjectType,
  subjectId: subjectType === "user" ? "u1" : subjectType === "group" ? "g1" : "d1",
  sequence,
  type,
  payload,
  occurredAt: now,
  position: null,
  event: null,
});
/** One row of every kind the relay meets: a user change, a user deletion, group changes and deletion, a directory event. */
const ROWS: StoredEvent[] = [
  row("user", "user.updated", { user, changedAttributes: ["title"], canonical: { id: "u1", state: "active" } }),
  row("user", "user.deleted", { user: { ...user, state: "deleted", deletedAt: now.toISOString() } }, 3n),
  row("group", "group.created", { group, memberUserIds: ["u1"], part: 1, parts: 1 }, 1n),
  row("group", "group.members_removed", { group, userIds: ["u1"], part: 1, parts: 1 }),
  row("group", "group.deleted", { group: { ...group, deletedAt: now.toISOString() } }, 3n),
  row("directory", "directory.deprovisioning_alerted", { policy: { mode: "alert" }, reason: "deprovisions" }, 1n),
];

/** A row as the outbox stores it since it keeps the Event message (ROWS are rows from before). */
function withMessage(r: StoredEvent): StoredEvent {
  const { seq: _seq, position: _position, event: _event, ...fields } = r;
  return { ...r, event: storedEventMessage({ ...fields, payload: r.payload ?? {}, sequence: Number(r.sequence), type: r.type as NewEvent["type"] }, JSON.stringify(r.payload)) };
}

function built(format: ValueFormat): OutboundMessage[] {
  const config = loadConfig({});
  const topics: LifecycleTopics = { ...config.kafka, formats: Object.fromEntries(Object.values(CHANNEL_TOPICS).map((k) => [config.kafka[k], format])) };
  return [...ROWS, ...ROWS.map(withMessage)].flatMap((r) => outboundMessages(r, 7n, eventToPb, topics));
}

describe("the outbox's stored Event message", () => {
  it("is, with its position, the Event its payload describes, and goes to Kafka as those bytes", () => {
    const topics = loadConfig({}).kafka;
    for (const r of ROWS) {
      const stored = withMessage(r);
      expect(fromBinary(EventSchema, withPosition(stored.event!, 7n))).toEqual(eventToPb(r, 7n));
      expect(eventToPb(stored, 7n)).toEqual(eventToPb(r, 7n));
      expect(fromBinary(EventSchema, withPosition(stored.event!, 2n ** 53n + 1n)).position).toBe(2n ** 53n + 1n);
      const [sent] = outboundMessages(stored, 7n, () => { throw new Error("a protobuf event is sent as stored, not rebuilt"); }, { ...topics, userStateTopic: undefined, groupStateTopic: undefined });
      expect(Buffer.from(sent!.value!)).toEqual(Buffer.from(withPosition(stored.event!, 7n)));
    }
  });
});

/** The headers schema with its properties (allOf flattened). */
function propertiesOf(schema: JsonSchema): Record<string, JsonSchema> {
  return { ...schema.properties, ...Object.assign({}, ...(schema.allOf ?? []).map(propertiesOf)) };
}

describe("docs/asyncapi.yaml", () => {
  it("names the topics the configuration defaults to", () => {
    const config = loadConfig({});
    for (const [channelId, key] of Object.entries(CHANNEL_TOPICS)) {
      const channel = document.channels().get(channelId);
      expect(channel?.address(), channelId).toBe(config.kafka[key]);
      const kafka = channel!.bindings().get("kafka")?.value() as { topic?: string; topicConfiguration?: Record<string, string[]> };
      expect(kafka.topic).toBe(config.kafka[key]);
      expect(kafka.topicConfiguration?.["cleanup.policy"]).toEqual([key.endsWith("StateTopic") ? "compact" : "delete"]);
    }
    expect(document.channels().all().length).toBe(4);
  });

  it("lists every event type the service emits, and no other", () => {
    const [eventMessage] = channelMessages("userEvents");
    expect([...(eventMessage!.headers.properties!.ce_type!.enum as string[])].sort()).toEqual(Object.values(EVENT_TYPES).map((t) => CLOUDEVENTS_TYPE_PREFIX + t).sort());
  });

  it("names protobuf messages and files that exist", () => {
    const schemas = document.components().schemas().all().map((s) => s.json() as JsonSchema);
    const named = schemas.filter((s) => s["x-protobuf-message"]);
    expect(new Set(named.map((s) => s["x-protobuf-message"]))).toEqual(new Set([EventSchema.typeName, SubjectStateSchema.typeName]));
    for (const s of named) {
      const name = s["x-protobuf-message"]!.split(".").at(-1)!;
      expect(readFileSync(path.join(root, s["x-protobuf-file"]!), "utf8")).toContain(`message ${name} {`);
    }
  });

  for (const format of ["protobuf", "json", "cloudevents-json"] as const) {
    it(`describes every message the relay builds in the ${format} format: headers and content-type`, () => {
      const config = loadConfig({});
      const messages = built(format);
      expect(messages.some((m) => m.value === null)).toBe(true);
      for (const m of messages) {
        const channelId = (Object.keys(CHANNEL_TOPICS) as Array<keyof typeof CHANNEL_TOPICS>).find((c) => config.kafka[CHANNEL_TOPICS[c]] === m.topic)!;
        expect(channelId, m.topic).toBeDefined();
        const documented = channelMessages(channelId);
        // A tombstone is the message whose payload is null; the others match by content-type.
        const match = m.value === null ? documented.find((d) => d.payload.type === "null") : documented.find((d) => d.contentType === m.headers["content-type"]);
        expect(match, `${m.topic} ${m.headers["content-type"]}`).toBeDefined();
        const properties = match!.headers.properties!;
        expect(Object.keys(m.headers).sort(), `headers on ${m.topic}`).toEqual(expect.arrayContaining(match!.headers.required!.sort()));
        for (const [name, value] of Object.entries(m.headers)) {
          const schema = properties[name];
          expect(schema, `header ${name} on ${m.topic}`).toBeDefined();
          if (schema!.enum) expect(schema!.enum, `header ${name} on ${m.topic}`).toContain(value);
          if (schema!.const !== undefined) expect(value).toBe(schema!.const);
        }
        if (format === "cloudevents-json" && m.value !== null) {
          const envelope = JSON.parse(Buffer.from(m.value).toString("utf8")) as Record<string, unknown>;
          const documentedEnvelope = propertiesOf(match!.payload);
          for (const key of Object.keys(envelope)) expect(documentedEnvelope, `CloudEvents attribute ${key}`).toHaveProperty(key);
        }
        if (format === "json" && m.value !== null) {
          const json = JSON.parse(Buffer.from(m.value).toString("utf8")) as Record<string, unknown>;
          for (const key of match!.payload.required!) expect(json, `${m.topic} JSON field ${key}`).toHaveProperty(key);
        }
      }
    });
  }
});
