import { Agent, request } from 'node:http';
import type { SignedRequest } from '../sdk/signer.js';

/** An answer as the load client reads it. */
export interface HttpAnswer {
  status: number;
  body: string;
}

/**
 * The load client of the HTTP benches: `node:http` over keep-alive connections, one per request in flight.
 * Not `fetch`: Node 20's fetch (undici through web streams) costs about 0.7 ms of client CPU per request on
 * this machine, so at concurrency 32 the client, not the server, was the bottleneck; this one costs a
 * fraction of that. Requests go exactly as signed (`host` included); plain HTTP on loopback only.
 */
export class KeepAliveClient {
  readonly #agent: Agent;
  readonly #host: string;
  readonly #port: number;
  readonly #origin: string;

  constructor(baseUrl: string, maxSockets: number) {
    const url = new URL(baseUrl);
    if (url.protocol !== 'http:') throw new TypeError(`expected an http:// base url, got \`${baseUrl}\``);
    this.#host = url.hostname;
    this.#port = Number(url.port || 80);
    this.#origin = url.origin;
    this.#agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  /** Sends one signed request; rejects on a transport error or after `timeoutMs`. Any status resolves. */
  send(signed: SignedRequest, timeoutMs: number): Promise<HttpAnswer> {
    if (!signed.url.startsWith(this.#origin)) {
      return Promise.reject(new Error(`request for \`${signed.url}\` does not go to \`${this.#origin}\``));
    }
    const path = signed.url.slice(this.#origin.length) || '/';
    const headers: Record<string, string | number> = { ...signed.headers };
    if (signed.body !== undefined) headers['content-length'] = Buffer.byteLength(signed.body);
    return new Promise((ok, fail) => {
      const req = request(
        { agent: this.#agent, host: this.#host, port: this.#port, method: signed.method, path, headers },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            ok({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', fail);
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', fail);
      req.end(signed.body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
