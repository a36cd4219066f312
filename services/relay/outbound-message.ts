// The one place an event becomes a Kafka message: topic by subject type, keyed by subject
// (one subject, one partition), the protobuf Event with its position as value, CloudEvents
// headers. The relay and the operator's replay both build their messages here.
import { cloudEventHeaders, encodeEvent, eventToPb, type StoredEvent } from "../core/transport/event-codec.ts";
import type { OutboundMessage } from "./publisher.ts";

export interface Topics {
  readonly userTopic: string;
  readonly groupTopic: string;
}

export function outboundMessage(event: StoredEvent, position: bigint, topics: Topics): OutboundMessage {
  return {
    topic: event.subjectType === "user" ? topics.userTopic : topics.groupTopic,
    key: event.subjectId,
    value: encodeEvent(eventToPb(event, position)),
    headers: cloudEventHeaders(event),
  };
}
