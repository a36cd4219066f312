// Client text in RPCs meets the rule SCIM bodies meet (domain/json-limits.ts): checked once
// here, for every unary request, so no RPC stores text Postgres cannot hold or answers 500
// for it. The depth of resources is the domain's to check (resources.ts), where the limit
// applies to the resource, not to the message around it.
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { jsonProblem } from "../../platform/json-limits.ts";
import { principalKey } from "./authorize.ts";
import { ERROR_KIND_HEADER } from "../../platform/rpc-errors.ts";

// The facade's audit records are made storable by the core instead: refusing one would
// lose a record of what an IdP did.
const SANITISED_BY_THE_CORE = new Set(["AppendScimAuditRecords"]);

export function inputInterceptor(): Interceptor {
  return (next) => async (req) => {
    // The in-process SCIM facade checked what it sends at its own edge (scim/http.ts).
    const fromFacade = req.contextValues.get(principalKey)?.kind === "internal";
    if (!req.stream && !fromFacade && !SANITISED_BY_THE_CORE.has(req.method.name)) {
      // A message is a tree of plain objects; the walk is iterative, so no depth is unsafe.
      const problem = jsonProblem(req.message, Number.POSITIVE_INFINITY);
      if (problem) throw new ConnectError(problem.message, Code.InvalidArgument, { [ERROR_KIND_HEADER]: problem.kind });
    }
    return next(req);
  };
}
