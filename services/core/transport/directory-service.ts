// DirectoryService over Connect: converts messages and calls the use cases, nothing more.
import type { ServiceImpl } from "@connectrpc/connect";
import { DirectoryService } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import type { DirectoryUseCases } from "../application/directories.ts";
import {
  apiKeyToPb,
  directoryStateFromPb,
  directoryToPb,
  providerFromPb,
  scimTokenToPb,
  scopeFromPb,
} from "./convert.ts";

export function directoryServiceImpl(directories: DirectoryUseCases): Partial<ServiceImpl<typeof DirectoryService>> {
  return {
    async createDirectory(req) {
      const directory = await directories.createDirectory({
        name: req.name,
        provider: providerFromPb(req.provider),
        strict: req.strict,
      });
      return { directory: directoryToPb(directory) };
    },
    async getDirectory(req) {
      return { directory: directoryToPb(await directories.getDirectory(req.id)) };
    },
    async listDirectories(req) {
      const page = await directories.listDirectories(req.pageSize, req.pageToken);
      return { directories: page.items.map(directoryToPb), nextPageToken: page.nextPageToken };
    },
    async updateDirectory(req) {
      const directory = await directories.updateDirectory({
        id: req.id,
        name: req.name,
        state: req.state === undefined ? undefined : directoryStateFromPb(req.state),
        strict: req.strict,
      });
      return { directory: directoryToPb(directory) };
    },
    async createScimToken(req) {
      const { token, secret } = await directories.createScimToken(req.directoryId, req.name);
      return { token: scimTokenToPb(token), secret };
    },
    async listScimTokens(req) {
      return { tokens: (await directories.listScimTokens(req.directoryId)).map(scimTokenToPb) };
    },
    async revokeScimToken(req) {
      return { token: scimTokenToPb(await directories.revokeScimToken(req.directoryId, req.id)) };
    },
    async authenticateScimToken(req) {
      const { directory, tokenId } = await directories.authenticateScimToken(req.secret);
      return { directory: directoryToPb(directory), tokenId };
    },
    async createApiKey(req) {
      const { key, secret } = await directories.createApiKey(req.name, scopeFromPb(req.scope));
      return { key: apiKeyToPb(key), secret };
    },
    async listApiKeys() {
      return { keys: (await directories.listApiKeys()).map(apiKeyToPb) };
    },
    async revokeApiKey(req) {
      return { key: apiKeyToPb(await directories.revokeApiKey(req.id)) };
    },
  };
}
