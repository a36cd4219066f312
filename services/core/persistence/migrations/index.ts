import type { MigrationObject } from "@mikro-orm/core";
import { Migration0001Initial } from "./0001-initial.ts";
import { Migration0002Relay } from "./0002-relay.ts";
import { Migration0003Mapping } from "./0003-mapping.ts";
import { Migration0004Audit } from "./0004-audit.ts";
import { Migration0005ApiKeyDirectories } from "./0005-api-key-directories.ts";
import { Migration0006RelayParking } from "./0006-relay-parking.ts";
import { Migration0007EventFloors } from "./0007-event-floors.ts";
import { Migration0008DeprovisioningBrake } from "./0008-deprovisioning-brake.ts";
import { Migration0009EventPositions } from "./0009-event-positions.ts";
import { Migration0010Consumers } from "./0010-consumers.ts";
import { Migration0011OutboxEventMessage } from "./0011-outbox-event-message.ts";
import { Migration0012NoVisibilityHorizon } from "./0012-no-visibility-horizon.ts";

// Applied in this order; never edit a migration once it has shipped, add a new one.
export const migrations: MigrationObject[] = [
  { name: "0001-initial", class: Migration0001Initial },
  { name: "0002-relay", class: Migration0002Relay },
  { name: "0003-mapping", class: Migration0003Mapping },
  { name: "0004-audit", class: Migration0004Audit },
  { name: "0005-api-key-directories", class: Migration0005ApiKeyDirectories },
  { name: "0006-relay-parking", class: Migration0006RelayParking },
  { name: "0007-event-floors", class: Migration0007EventFloors },
  { name: "0008-deprovisioning-brake", class: Migration0008DeprovisioningBrake },
  { name: "0009-event-positions", class: Migration0009EventPositions },
  { name: "0010-consumers", class: Migration0010Consumers },
  { name: "0011-outbox-event-message", class: Migration0011OutboxEventMessage },
  { name: "0012-no-visibility-horizon", class: Migration0012NoVisibilityHorizon },
];
