// Each directory's share of the process. The request-rate limit counts requests, not their
// cost: a directory sending expensive list requests within its rate could still take the
// CPU and the database from every other. Here each directory has a budget of cost units in
// flight: a request runs when its cost fits in what the directory's running requests leave,
// otherwise it waits its turn in order (at most `queueLimit` wait; more are refused with
// 429). A flood thus queues behind itself while other directories' requests start at once.
// Node cannot pre-empt a request's synchronous work, so what bounds another directory's
// latency is how much expensive work one directory may have running at a time.
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "./discovery.ts";

export interface DirectorySlot {
  /** True once the request may run; false if it left while still waiting. */
  readonly granted: Promise<boolean>;
  /** Frees the slot, or the place in the queue; safe to call more than once. */
  leave(): void;
  /**
   * The client went away: gives up the place in the queue, but not a running slot, whose
   * work goes on until it ends (else disconnecting at once would dodge the budget).
   */
  abandon(): void;
}

interface Waiter {
  readonly cost: number;
  readonly wake: (granted: boolean) => void;
}

interface Lane {
  inUse: number;
  readonly waiting: Waiter[];
}

const UNLIMITED: DirectorySlot = { granted: Promise.resolve(true), leave: () => {}, abandon: () => {} };

/** Resources a list request may return per cost unit; one resource read or write costs 1. */
const RESOURCES_PER_UNIT = 10;
/**
 * A write of a group may change thousands of memberships in one transaction, which holds a
 * database connection for seconds: a directory runs at most budget / GROUP_WRITE_COST of them
 * at once, so the connections the core shares stay free for other directories.
 */
const GROUP_WRITE_COST = 4;
const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);
// A filter that names one resource by a unique attribute finds at most one: as cheap as a
// read by id. (The shape IdPs use to look a user up before creating it.)
const SINGLE_MATCH_FILTER = /^\s*(userName|externalId|id|displayName)\s+eq\s+"[^"]*"\s*$/i;

/**
 * What a SCIM request costs, from its method, path below the SCIM base and query, before
 * its body is read: a list costs its page size in units of RESOURCES_PER_UNIT, a search its
 * default page, a write of a group GROUP_WRITE_COST, a bulk request the whole budget (the
 * caller clamps to the budget).
 */
export function scimRequestCost(method: string, path: string, query: URLSearchParams): number {
  const [endpoint, second, ...rest] = path.split("/").filter((p) => p !== "");
  const kind = endpoint?.toLowerCase();
  if (rest.length > 0) return 1;
  if (kind === "bulk") return Number.POSITIVE_INFINITY;
  if (kind === "groups" && second !== ".search" && WRITES.has(method)) return GROUP_WRITE_COST;
  if (kind === ".search" || second === ".search") return Math.ceil(DEFAULT_PAGE_SIZE / RESOURCES_PER_UNIT);
  if (method !== "GET" || second !== undefined || (kind !== "users" && kind !== "groups")) return 1;
  const filter = query.get("filter");
  if (filter !== null && filter.length <= 1024 && SINGLE_MATCH_FILTER.test(filter)) return 1;
  const asked = Number(query.get("count") ?? DEFAULT_PAGE_SIZE);
  const count = Number.isFinite(asked) ? Math.min(MAX_PAGE_SIZE, Math.max(0, asked)) : DEFAULT_PAGE_SIZE;
  return Math.max(1, Math.ceil(count / RESOURCES_PER_UNIT));
}

export class DirectoryBudget {
  private readonly budget: number;
  private readonly queueLimit: number;
  // Only directories with a request running or waiting have a lane, so the map is bounded
  // by the requests in the process.
  private readonly lanes = new Map<string, Lane>();

  /** budget 0 turns the bound off. */
  constructor(budget: number, queueLimit: number) {
    this.budget = budget;
    this.queueLimit = queueLimit;
  }

  /** A slot for one request of the directory, or undefined when its queue is full. */
  enter(directoryId: string, requestedCost: number): DirectorySlot | undefined {
    if (this.budget <= 0) return UNLIMITED;
    // A request dearer than the whole budget runs alone.
    const cost = Math.min(this.budget, Math.max(1, requestedCost));
    let lane = this.lanes.get(directoryId);
    if (lane === undefined) {
      lane = { inUse: 0, waiting: [] };
      this.lanes.set(directoryId, lane);
    }
    const current = lane;
    let state: "waiting" | "running" | "left";
    let granted: Promise<boolean>;
    let waiter: Waiter | undefined;
    // Strict order: nothing overtakes a waiting request, so a dear one is not starved.
    if (current.waiting.length === 0 && current.inUse + cost <= this.budget) {
      current.inUse += cost;
      state = "running";
      granted = Promise.resolve(true);
    } else if (current.waiting.length < this.queueLimit) {
      state = "waiting";
      granted = new Promise<boolean>((resolve) => {
        waiter = {
          cost,
          wake: (ok) => {
            if (ok) state = "running";
            resolve(ok);
          },
        };
      });
      current.waiting.push(waiter!);
    } else {
      return undefined;
    }
    const slot: DirectorySlot = {
      granted,
      abandon: () => {
        if (state === "waiting") slot.leave();
      },
      leave: () => {
        if (state === "running") {
          state = "left";
          current.inUse -= cost;
          this.admit(current);
        } else if (state === "waiting") {
          state = "left";
          current.waiting.splice(current.waiting.indexOf(waiter!), 1);
          waiter!.wake(false);
          // The head may have changed to one that fits.
          this.admit(current);
        }
        this.dropIfIdle(directoryId, current);
      },
    };
    return slot;
  }

  /** The directory's cost units in use and requests waiting, for tests and metrics. */
  load(directoryId: string): { inUse: number; waiting: number } {
    const lane = this.lanes.get(directoryId);
    return { inUse: lane?.inUse ?? 0, waiting: lane?.waiting.length ?? 0 };
  }

  /** Directories with a request running or waiting. */
  get activeDirectories(): number {
    return this.lanes.size;
  }

  private admit(lane: Lane): void {
    for (let head = lane.waiting[0]; head !== undefined && lane.inUse + head.cost <= this.budget; head = lane.waiting[0]) {
      lane.waiting.shift();
      lane.inUse += head.cost;
      head.wake(true);
    }
  }

  private dropIfIdle(directoryId: string, lane: Lane): void {
    if (lane.inUse === 0 && lane.waiting.length === 0 && this.lanes.get(directoryId) === lane) this.lanes.delete(directoryId);
  }
}
