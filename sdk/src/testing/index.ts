// @roster/sdk/testing: test a handler without a Roster server. The fake EventService is a
// real Connect server on port 0 that follows the proto (replay after a cursor, then live),
// with faults on demand (dropped connections, duplicates, holes in a subject's sequence).
//
//   const fake = await startFakeEventService();
//   fake.append(userEvent(directoryId, "user-1", 1, "userCreated"), userEvent(directoryId, "user-1", 2, "userDeactivated"));
//   const roster = createRosterClients({ baseUrl: fake.url, apiKey: fake.apiKey });
//   // run your consumer against roster.events, assert what it did, then: await fake.close();
export { startFakeEventService, userEvent } from "./fake-event-service.ts";
export type { FakeEventService } from "./fake-event-service.ts";
