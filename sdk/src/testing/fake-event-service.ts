// A small EventService that follows the proto (cursor = the last position, stream replays
// after it, then follows live), served over real HTTP on port 0, with faults on demand:
// dropped connections, a buggy replay that ignores the cursor, and events written with holes.
import http from "node:http";
import type net from "node:net";
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { UserSchema, UserState } from "../gen/roster/directory/v1/directory_pb.js";
import { EventSchema, EventService, SubjectType, type Event } from "../gen/roster/events/v1/events_pb.js";

export interface FakeEventService {
  readonly url: string;
  readonly apiKey: string;
  /** Every StreamEvents request received (its cursor). */
  readonly streamCursors: string[];
  /** Appends events; each gets the next position. */
  append(...events: Event[]): void;
  /** Ends every open connection abruptly (as a crash or a network cut would). */
  dropConnections(): void;
  /** When true, StreamEvents ignores the cursor and replays from the start (duplicates). */
  ignoreCursor: boolean;
  close(): Promise<void>;
}

let counter = 0;

/** A user event of the given case and sequence, payload filled in. */
export function userEvent(
  directoryId: string,
  subjectId: string,
  sequence: number,
  kind: "userCreated" | "userUpdated" | "userDeactivated" | "userReactivated" | "userDeleted" = "userUpdated",
  id = `evt-${++counter}`,
): Event {
  const state = kind === "userDeactivated" ? UserState.INACTIVE : kind === "userDeleted" ? UserState.DELETED : UserState.ACTIVE;
  const user = create(UserSchema, { id: subjectId, directoryId, userName: `${subjectId}@example.com`, state, version: BigInt(sequence) });
  const type = { userCreated: "user.created", userUpdated: "user.updated", userDeactivated: "user.deactivated", userReactivated: "user.reactivated", userDeleted: "user.deleted" }[kind];
  return create(EventSchema, {
    id,
    directoryId,
    subjectType: SubjectType.USER,
    subjectId,
    sequence: BigInt(sequence),
    type,
    time: timestampNow(),
    payload: { case: kind, value: { user } },
  } as never);
}

export async function startFakeEventService(apiKey = "rst_key_test"): Promise<FakeEventService> {
  const log: Event[] = [];
  const waiters = new Set<() => void>();
  const streamCursors: string[] = [];
  const sockets = new Set<net.Socket>();
  const state = { ignoreCursor: false };

  const routes = (router: ConnectRouter) =>
    router.service(EventService, {
      async listEvents() {
        throw new ConnectError("not in the fake", Code.Unimplemented);
      },
      async listSubjectEvents() {
        throw new ConnectError("not in the fake", Code.Unimplemented);
      },
      async *streamEvents(req, ctx) {
        if (ctx.requestHeader.get("authorization") !== `Bearer ${apiKey}`) throw new ConnectError("bad key", Code.Unauthenticated);
        streamCursors.push(req.cursor);
        let after = state.ignoreCursor || req.cursor === "" ? 0 : Number(req.cursor);
        const types = req.filter?.types ?? [];
        while (!ctx.signal.aborted) {
          while (after < log.length) {
            const event = log[after]!;
            after++;
            if (event.directoryId !== req.directoryId) continue;
            if (types.length > 0 && !types.includes(event.type)) continue;
            yield { event, cursor: String(after) };
          }
          await new Promise<void>((resolve) => {
            waiters.add(resolve);
            ctx.signal.addEventListener("abort", () => resolve(), { once: true });
          });
        }
      },
    });

  const server = http.createServer(connectNodeAdapter({ routes }));
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    streamCursors,
    get ignoreCursor() {
      return state.ignoreCursor;
    },
    set ignoreCursor(value: boolean) {
      state.ignoreCursor = value;
    },
    append(...events) {
      for (const e of events) log.push(create(EventSchema, { ...e, position: BigInt(log.length + 1) }));
      for (const wake of [...waiters]) wake();
      waiters.clear();
    },
    dropConnections() {
      for (const socket of sockets) socket.destroy();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      for (const wake of waiters) wake();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
