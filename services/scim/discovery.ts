// Discovery endpoints (RFC 7644 section 4): what this server supports, truthfully.
import type { JsonObject } from "../platform/scim/json.ts";
import { ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, renderSchemas, USER_SCHEMA } from "../platform/scim/schema.ts";

export const LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
export const MAX_PAGE_SIZE = 1000;
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_BULK_OPERATIONS = 1000;

export function serviceProviderConfig(baseUrl: string, maxPayloadSize: number): JsonObject {
  return {
    schemas: ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
    documentationUri: "https://github.com/roster-scim/roster#readme",
    patch: { supported: true },
    bulk: { supported: true, maxOperations: MAX_BULK_OPERATIONS, maxPayloadSize },
    filter: { supported: true, maxResults: MAX_PAGE_SIZE },
    changePassword: { supported: false },
    sort: { supported: true },
    etag: { supported: true },
    // RFC 9865: both index and cursor pagination.
    pagination: {
      cursor: true,
      index: true,
      defaultPaginationMethod: "index",
      defaultPageSize: DEFAULT_PAGE_SIZE,
      maxPageSize: MAX_PAGE_SIZE,
    },
    authenticationSchemes: [
      {
        type: "oauthbearertoken",
        name: "Bearer token",
        description: "A per-directory SCIM token issued by Roster, sent as `Authorization: Bearer <token>`.",
        primary: true,
      },
    ],
    meta: { resourceType: "ServiceProviderConfig", location: `${baseUrl}/ServiceProviderConfig` },
  };
}

export function resourceTypes(baseUrl: string): JsonObject[] {
  return [
    {
      schemas: ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
      id: "User",
      name: "User",
      endpoint: "/Users",
      description: "User Account",
      schema: USER_SCHEMA,
      schemaExtensions: [{ schema: ENTERPRISE_USER_SCHEMA, required: false }],
      meta: { resourceType: "ResourceType", location: `${baseUrl}/ResourceTypes/User` },
    },
    {
      schemas: ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
      id: "Group",
      name: "Group",
      endpoint: "/Groups",
      description: "Group",
      schema: GROUP_SCHEMA,
      schemaExtensions: [],
      meta: { resourceType: "ResourceType", location: `${baseUrl}/ResourceTypes/Group` },
    },
  ];
}

export function schemas(baseUrl: string): JsonObject[] {
  return renderSchemas(baseUrl) as unknown as JsonObject[];
}

export function listResponse(resources: readonly JsonObject[], totalResults: number, startIndex: number, extra: JsonObject = {}): JsonObject {
  return { schemas: [LIST_SCHEMA], totalResults, itemsPerPage: resources.length, startIndex, Resources: [...resources], ...extra };
}
