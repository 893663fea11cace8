import type { AwsCredentials } from '../../sdk/signer.js';
import { signRequest } from '../../sdk/signer.js';

export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  body: unknown;
}

/** Sends one request to a local server, SigV4-signed when credentials are given. */
export async function send(
  baseUrl: string,
  method: string,
  path: string,
  options: {
    body?: unknown;
    rawBody?: string;
    credentials?: AwsCredentials;
    region?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<HttpAnswer> {
  const body = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  let request = {
    method,
    url: `${baseUrl}${path}`,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(options.headers ?? {}),
    },
    ...(body !== undefined ? { body } : {}),
  };
  if (options.credentials) {
    request = await signRequest(request, {
      credentials: options.credentials,
      region: options.region ?? 'us-east-1',
    });
  }
  const { host: _host, ...headers } = request.headers as Record<string, string>;
  const res = await fetch(request.url, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  return { status: res.status, headers: res.headers, text, body: parsed };
}
