// MappingService over Connect: converts messages and calls the use cases, nothing more.
import type { ServiceImpl } from "@connectrpc/connect";
import { MappingService } from "@roster/sdk/gen/roster/mapping/v1/mapping_pb.js";
import type { Store } from "../../core/application/store.ts";
import { InvalidInputError } from "../../core/domain/errors.ts";
import { expectedVersionFromPb } from "../../shared/convert.ts";
import type { Logger } from "../../platform/logger.ts";
import { MappingUseCases } from "../application/mapping.ts";
import { RemapRunner, type RemapOptions } from "../application/remap.ts";
import { canonicalUserToPb, fieldSourceToPb, mappingToPb, presetToPb, remapJobToPb, roleRulesFromPb, rulesFromPb } from "./convert.ts";

interface MappingDeps {
  readonly mapping: MappingUseCases;
}

function mappingServiceImpl(deps: MappingDeps): Partial<ServiceImpl<typeof MappingService>> {
  const { mapping } = deps;
  return {
    listPresets() {
      return { presets: mapping.listPresets().map((p) => presetToPb(p.provider, p.rules)) };
    },
    async getMapping(req) {
      return { mapping: mappingToPb(await mapping.getMapping(req.directoryId)) };
    },
    async updateMapping(req) {
      const result = await mapping.updateMapping(req.directoryId, {
        overrides: rulesFromPb(req.overrides),
        roleRules: roleRulesFromPb(req.roleRules),
        expectedVersion: expectedVersionFromPb(req.expectedVersion),
      });
      return { mapping: mappingToPb(result.mapping), job: result.job && remapJobToPb(result.job) };
    },
    async previewMapping(req) {
      if (!req.useGivenRules && (req.overrides.length > 0 || req.roleRules.length > 0)) {
        throw new InvalidInputError("invalidValue", "overrides or role_rules were given without use_given_rules: set it to preview them");
      }
      const result = await mapping.preview({
        directoryId: req.directoryId,
        ...(req.input.case === "resource" ? { resource: req.input.value } : {}),
        ...(req.input.case === "userId" ? { userId: req.input.value } : {}),
        groupIds: req.groupIds,
        ...(req.useGivenRules ? { rules: { overrides: rulesFromPb(req.overrides), roleRules: roleRulesFromPb(req.roleRules) } } : {}),
      });
      return { user: canonicalUserToPb(result.user), sources: result.sources.map(fieldSourceToPb), warnings: [...result.warnings] };
    },
    async getCanonicalUser(req) {
      return { user: canonicalUserToPb((await mapping.canonicalUser(req.directoryId, req.userId)).user) };
    },
    async getRemapJob(req) {
      return { job: remapJobToPb(await mapping.getRemapJob(req.directoryId, req.id)) };
    },
  };
}

export interface MappingModule {
  readonly mapping: MappingUseCases;
  readonly remap: RemapRunner;
  /** MappingService's implementation; the core serves it behind its interceptors and access rules. */
  readonly service: Partial<ServiceImpl<typeof MappingService>>;
  /** Resumes the jobs a previous process left running. */
  start(): Promise<void>;
  /** Stops after the batches in flight; unfinished jobs resume on the next start. */
  stop(): Promise<void>;
}

/** The mapping module over the core's store: use cases, remap runner and Connect routes. */
export function createMapping(store: Store, logger?: Logger, options: RemapOptions = {}): MappingModule {
  const mapping = new MappingUseCases(store);
  const remap = new RemapRunner(store, mapping, logger, options);
  return {
    mapping,
    remap,
    service: mappingServiceImpl({ mapping }),
    async start() {
      const resumed = await remap.resume();
      if (resumed > 0) logger?.info({ jobs: resumed }, "resumed remap jobs");
    },
    stop: () => remap.stop(),
  };
}
