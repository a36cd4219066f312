import type { MigrationObject } from "@mikro-orm/core";
import { Migration0001Initial } from "./0001-initial.ts";

// Applied in this order; never edit a migration once it has shipped, add a new one.
export const migrations: MigrationObject[] = [{ name: "0001-initial", class: Migration0001Initial }];
