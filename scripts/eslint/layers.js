// The layer rules as an ESLint rule: every import (static, re-export or dynamic with a
// literal) is resolved to a path in the repository (relative specifiers) or kept as a package
// name, and refused when a layer the importing file belongs to forbids it. The table of
// layers lives in eslint.config.js; docs/architecture.md explains it.
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "../..");

/** The import's target: a repository path like `services/core/domain/x.ts`, or a package name. */
function targetOf(file, specifier) {
  if (!specifier.startsWith(".")) return specifier;
  return path.relative(ROOT, path.resolve(path.dirname(file), specifier)).split(path.sep).join("/");
}

const matches = (pattern, text) => new RegExp(pattern).test(text);

/** @type {import("eslint").Rule.RuleModule} */
const imports = {
  meta: {
    type: "problem",
    docs: { description: "Layers only look down; services reach each other through their contracts" },
    schema: [
      {
        type: "object",
        properties: {
          layers: {
            type: "array",
            items: {
              type: "object",
              properties: {
                name: { type: "string" },
                files: { type: "string" },
                except: { type: "string" },
                forbid: {
                  type: "array",
                  items: {
                    type: "object",
                    properties: { target: { type: "string" }, unless: { type: "string" }, message: { type: "string" } },
                    required: ["target", "message"],
                    additionalProperties: false,
                  },
                },
              },
              required: ["name", "files", "forbid"],
              additionalProperties: false,
            },
          },
        },
        additionalProperties: false,
      },
    ],
    messages: { forbidden: "{{layer}} must not import {{target}}: {{message}}" },
  },
  create(context) {
    const file = path.relative(ROOT, context.filename).split(path.sep).join("/");
    const layers = (context.options[0]?.layers ?? []).filter((l) => matches(l.files, file) && !(l.except && matches(l.except, file)));
    if (layers.length === 0) return {};
    const check = (node) => {
      const source = node.source;
      if (!source || source.type !== "Literal" || typeof source.value !== "string") return;
      const target = targetOf(context.filename, source.value);
      for (const layer of layers) {
        for (const rule of layer.forbid) {
          if (matches(rule.target, target) && !(rule.unless && matches(rule.unless, target))) {
            context.report({ node: source, messageId: "forbidden", data: { layer: layer.name, target, message: rule.message } });
            return;
          }
        }
      }
    };
    return { ImportDeclaration: check, ExportNamedDeclaration: check, ExportAllDeclaration: check, ImportExpression: check };
  },
};

export default { rules: { imports } };
