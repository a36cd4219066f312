// ConsumerService over Connect: registered consumers, their acknowledgements and the
// leavers they have not revoked.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { ConsumerSchema, UnrevokedUserSchema, type Consumer as PbConsumer, type ConsumerService } from "@roster/sdk/gen/roster/consumers/v1/consumers_pb.js";
import type { ConsumerObserver, ConsumerUseCases } from "../application/consumers.ts";
import { scopeLabel, type Consumer } from "../domain/consumers.ts";
import type { Metrics } from "../../platform/metrics.ts";
import { InvalidInputError } from "../domain/errors.ts";
import { checkPageSize } from "../domain/paging.ts";
import type { EventLog } from "../../event-log/index.ts";
import { cursorAhead, decodeCursor, encodeCursor } from "./event-service.ts";

export interface ConsumerServiceDeps {
  readonly consumers: ConsumerUseCases;
  /** The newest published position bounds what a consumer may acknowledge. */
  readonly log: Pick<EventLog, "globalHeadPosition">;
}

export function consumerToPb(c: Consumer): PbConsumer {
  return create(ConsumerSchema, {
    directoryId: c.directoryId ?? "",
    name: c.name,
    owner: c.owner,
    objectiveSeconds: c.objectiveSeconds,
    kafkaGroupId: c.kafkaGroupId ?? "",
    acknowledgedPosition: c.acknowledgedPosition,
    acknowledgeTime: c.acknowledgedAt ? timestampFromDate(c.acknowledgedAt) : undefined,
    revokedUsers: BigInt(c.revokedUsers),
    revocationSecondsSum: c.revocationSecondsSum,
    revocationSecondsMax: c.revocationSecondsMax,
    objectiveMissedUsers: BigInt(c.objectiveMissedUsers),
    createTime: timestampFromDate(c.createdAt),
    updateTime: timestampFromDate(c.updatedAt),
  });
}

export function consumerServiceImpl(deps: ConsumerServiceDeps): ServiceImpl<typeof ConsumerService> {
  const { consumers } = deps;
  return {
    async registerConsumer(req) {
      return { consumer: consumerToPb(await consumers.register(req)) };
    },
    async getConsumer(req) {
      return { consumer: consumerToPb(await consumers.get(req.directoryId, req.name)) };
    },
    async listConsumers(req) {
      return { consumers: (await consumers.list(req.directoryId)).map(consumerToPb) };
    },
    async deleteConsumer(req) {
      await consumers.delete(req.directoryId, req.name);
      return {};
    },
    async acknowledgeEvents(req) {
      if (req.cursor === "") throw new InvalidInputError("invalidValue", "cursor is required");
      const position = decodeCursor(req.cursor);
      // As StreamEvents refuses a cursor past every position assigned, so is an acknowledgement.
      const head = await deps.log.globalHeadPosition();
      if (position > head) throw cursorAhead(head);
      const revocation = await consumers.acknowledge(req.directoryId, req.name, position);
      return { consumer: consumerToPb(revocation.consumer), revokedUsers: BigInt(revocation.revoked) };
    },
    async listUnrevokedUsers(req) {
      const limit = checkPageSize(req.pageSize, 100, 1000);
      const users = await consumers.unrevoked(req.directoryId, req.name, { all: req.includeWithinObjective, after: decodeCursor(req.pageToken, "page_token"), limit });
      const last = users.length === limit ? users[users.length - 1] : undefined;
      return {
        users: users.map((u) =>
          create(UnrevokedUserSchema, {
            directoryId: u.directoryId,
            userId: u.userId,
            eventId: u.eventId,
            eventType: u.type,
            position: u.position,
            eventTime: timestampFromDate(u.occurredAt),
            waitingSeconds: u.waitingSeconds,
            overdue: u.overdue,
          }),
        ),
        nextPageToken: last ? encodeCursor(last.position) : "",
      };
    },
  };
}

/** The consumers' measurements as Prometheus metrics. */
export function metricsObserver(metrics: Metrics): ConsumerObserver {
  const labels = (c: Consumer) => ({ directory: scopeLabel(c.directoryId), consumer: c.name });
  return {
    revoked: (c, buckets, secondsSum) => metrics.consumerRevocation.add(labels(c), buckets, secondsSum),
    missed: (c, users) => metrics.consumerObjectiveMissed.inc(labels(c), users),
    overdue: (c, users) => metrics.consumerUnrevoked.set(labels(c), users),
  };
}
