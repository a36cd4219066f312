// A read model: an in-memory mirror of a directory's users and groups, kept current from the
// event stream. Every payload carries the subject's new state, so the mirror never calls
// back; memberships follow from the group events. Sequence gaps stop it (a mirror that
// silently missed an event would be wrong forever).
//
//   ROSTER_URL=... ROSTER_API_KEY=... ROSTER_DIRECTORY_ID=... node sdk/examples/read-model.ts
//
// In your service, import from "@roster/sdk" instead of "../src/index.ts".
import { fileURLToPath } from "node:url";
import { createRosterClients, groupOf, subscribe, UserState, type Event, type Group, type RosterClients, type User } from "../src/index.ts";

export class DirectoryMirror {
  readonly users = new Map<string, User>();
  readonly groups = new Map<string, Group>();
  /** Group id → member user ids. */
  readonly members = new Map<string, Set<string>>();
  /** Resume point: persist it with the mirror if you snapshot it. */
  cursor: string | undefined;

  apply(event: Event): void {
    const p = event.payload;
    switch (p.case) {
      case "userCreated":
      case "userUpdated":
      case "userDeactivated":
      case "userReactivated":
      case "userAddedToGroup":
      case "userRemovedFromGroup":
      case "userRolesChanged":
        if (p.value.user) this.users.set(event.subjectId, p.value.user);
        break;
      case "userDeleted":
        this.users.delete(event.subjectId);
        for (const ids of this.members.values()) ids.delete(event.subjectId);
        break;
      case "groupCreated":
        // A large group arrives in parts (at most 1,000 ids each, consecutive sequences): the
        // first part starts the set, the others add to it.
        if (p.value.part <= 1) this.members.set(event.subjectId, new Set(p.value.memberUserIds));
        else for (const id of p.value.memberUserIds) this.membersOf(event.subjectId).add(id);
        break;
      case "groupMembersAdded":
        for (const id of p.value.userIds) this.membersOf(event.subjectId).add(id);
        break;
      case "groupMembersRemoved":
        for (const id of p.value.userIds) this.membersOf(event.subjectId).delete(id);
        break;
      case "groupDeleted":
        this.groups.delete(event.subjectId);
        this.members.delete(event.subjectId);
        return;
      case "groupUpdated":
      case undefined:
        break;
    }
    const group = groupOf(event);
    if (group) this.groups.set(event.subjectId, group);
  }

  activeUsers(): User[] {
    return [...this.users.values()].filter((u) => u.state === UserState.ACTIVE);
  }

  private membersOf(groupId: string): Set<string> {
    let ids = this.members.get(groupId);
    if (!ids) this.members.set(groupId, (ids = new Set()));
    return ids;
  }
}

/** Follows the stream into the mirror until the signal aborts; `onChange` after each event. */
export async function runReadModel(options: {
  events: RosterClients["events"];
  directoryId: string;
  mirror?: DirectoryMirror;
  signal?: AbortSignal;
  onChange?: (mirror: DirectoryMirror, event: Event) => void;
}): Promise<DirectoryMirror> {
  const mirror = options.mirror ?? new DirectoryMirror();
  for await (const { event, cursor } of subscribe(options.events, { directoryId: options.directoryId, cursor: mirror.cursor, signal: options.signal })) {
    mirror.apply(event);
    mirror.cursor = cursor;
    options.onChange?.(mirror, event);
  }
  return mirror;
}

function env(name: string): string {
  // eslint-disable-next-line no-restricted-properties -- a standalone example configured by its environment
  const value = process.env[name];
  if (!value) throw new Error(`set ${name}`);
  return value;
}

// Run directly (not imported). import.meta.main would need Node 24.2.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const clients = createRosterClients({ baseUrl: env("ROSTER_URL"), apiKey: env("ROSTER_API_KEY") });
  const controller = new AbortController();
  process.once("SIGINT", () => controller.abort());
  runReadModel({
    events: clients.events,
    directoryId: env("ROSTER_DIRECTORY_ID"),
    signal: controller.signal,
    onChange: (m, e) => console.log(`${e.type} ${e.subjectId}: ${m.users.size} users (${m.activeUsers().length} active), ${m.groups.size} groups`),
  }).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
