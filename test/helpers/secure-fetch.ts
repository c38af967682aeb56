/**
 * HTTPS GETs as a scraper makes them: verified against a CA bundle for a server name (not the
 * address dialled), with an optional bearer token. Node's fetch cannot take a CA per request
 * without undici's dispatcher, hence node:https.
 */
import { request } from "node:https";
import { gunzipSync } from "node:zlib";

export interface SecureResponse {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * `ca` + `servername`: verified as a scraper would. Without them the certificate is not checked:
 * only for tests about something else than TLS (an agent serving its self-signed stand-in).
 */
/** `gzip`: ask for a gzipped body, as Prometheus does; a gzipped answer is decompressed into `body`. */
export function secureGet(
  url: string,
  options: { ca?: string; servername?: string; token?: string; timeoutMs?: number; gzip?: boolean } = {},
): Promise<SecureResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        ...(options.ca === undefined ? { rejectUnauthorized: false } : { ca: options.ca }),
        ...(options.servername !== undefined && { servername: options.servername }),
        headers: {
          ...(options.token !== undefined && { authorization: `Bearer ${options.token}` }),
          ...(options.gzip && { "accept-encoding": "gzip" }),
        },
        timeout: options.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const raw = Buffer.concat(chunks);
          const body = res.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw;
          resolve({ status: res.statusCode ?? 0, body: body.toString("utf8"), headers: res.headers });
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on("error", reject);
    req.end();
  });
}
