// HTTP plumbing for SCIM: bounded JSON bodies, SCIM JSON responses, ETags.
import type http from "node:http";
import type http2 from "node:http2";
import { isStorableText, jsonProblem } from "../platform/json-limits.ts";
import { errorBody, ScimError } from "./errors.ts";

export type Req = http.IncomingMessage | http2.Http2ServerRequest;
export type Res = http.ServerResponse | http2.Http2ServerResponse;

export const SCIM_CONTENT_TYPE = "application/scim+json";

/**
 * Reads a JSON body of at most maxBytes; 413 beyond, 400 invalidSyntax when not JSON or
 * nested too deep, 400 invalidValue for text that cannot be stored (json-limits.ts). Code
 * behind this edge relies on those bounds.
 */
export async function readJson(req: Req, maxBytes: number): Promise<unknown> {
  const type = String(req.headers["content-type"] ?? "").split(";", 1)[0]!.trim().toLowerCase();
  if (type !== "" && type !== SCIM_CONTENT_TYPE && type !== "application/json") {
    throw new ScimError(415, `content-type must be ${SCIM_CONTENT_TYPE} or application/json`);
  }
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > maxBytes) throw new ScimError(413, `request body is larger than ${maxBytes} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new ScimError(413, `request body is larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") throw new ScimError(400, "request body is empty", "invalidSyntax");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ScimError(400, "request body is not valid JSON", "invalidSyntax");
  }
  const problem = jsonProblem(parsed);
  if (problem) throw new ScimError(400, `request body refused: ${problem.message}`, problem.kind);
  return parsed;
}

/** Query parameters are client text too: the same rule as for bodies. */
export function checkQuery(query: URLSearchParams): void {
  for (const [name, value] of query) {
    if (!isStorableText(name) || !isStorableText(value)) {
      throw new ScimError(400, "query parameters must not contain U+0000 or unpaired UTF-16 surrogates", "invalidValue");
    }
  }
}

export function send(res: Res, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  if (body === undefined) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.setHeader("content-type", `${SCIM_CONTENT_TYPE}; charset=utf-8`);
  res.setHeader("content-length", Buffer.byteLength(text));
  res.end(text);
}

export function sendError(res: Res, error: ScimError): void {
  send(res, error.status, errorBody(error), error.headers);
}

export function etag(version: number | bigint): string {
  return `W/"${version}"`;
}

/** The version an If-Match / If-None-Match header names; undefined for `*` or absent. */
export function versionFromEtag(header: string | string[] | undefined): number | undefined {
  if (header === undefined) return undefined;
  const value = (Array.isArray(header) ? header[0] : header)!.trim();
  if (value === "*" || value === "") return undefined;
  const match = /^(?:W\/)?"(\d{1,15})"$/.exec(value);
  if (!match) throw new ScimError(412, "If-Match must be an ETag this service issued, like W/\"3\"");
  return Number(match[1]);
}
