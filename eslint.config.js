import js from "@eslint/js";
import tseslint from "typescript-eslint";

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
);
