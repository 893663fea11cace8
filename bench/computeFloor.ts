import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InMemoryP256Signer, signRecord } from '../core/keys/index.js';
import {
  canonicalize,
  canonicalizeData,
  canonicalSha256,
  type DecisionFields,
  GENESIS_HASH,
  RECORD_SCHEMA,
  sha256Hex,
  type UnsignedRecord,
} from '../core/model/index.js';
import { verifySigV4 } from '../local/SigV4Verifier.js';
import type { AwsCredentials } from '../sdk/signer.js';

/**
 * The compute floor of one decision over HTTP: a bare `node:http` server doing what every decision costs
 * whatever the store and the policy engine: the emulator's SigV4 check (`verifySigV4`, same options), the
 * JSON body parsed, one decision record built, canonicalized, hashed and signed (`signRecord`, P-256) and
 * chained in memory, and the answer as JSON. No store, no policy, no Express. What the emulator reaches
 * beside this, measured in the same run, says how much the rest (routing, Cedar, the store) costs.
 */
export interface ComputeFloorServer {
  url: string;
  region: string;
  credentials: AwsCredentials;
  close(): Promise<void>;
}

const PRINCIPAL = 'arn:aws:iam::000000000000:user/zt-agent-floor-agent';

export async function startComputeFloor(region = 'us-east-1'): Promise<ComputeFloorServer> {
  const credentials = {
    accessKeyId: `AKIAFLOOR${randomBytes(6).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(30).toString('base64'),
  };
  const lookup = async (accessKeyId: string) =>
    accessKeyId === credentials.accessKeyId ? { secretAccessKey: credentials.secretAccessKey } : null;
  const signer = InMemoryP256Signer.generate();
  let seq = 0;
  let head = GENESIS_HASH;
  let allowedHosts: ReadonlySet<string> = new Set();

  const reply = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const verified = await verifySigV4(
      {
        method: req.method ?? 'GET',
        path: q === -1 ? raw : raw.slice(0, q),
        query: q === -1 ? '' : raw.slice(q + 1),
        headers: req.headersDistinct,
        body,
      },
      { region, service: 'execute-api', now: new Date(), lookup, allowedHosts },
    );
    if (!verified.ok) {
      reply(res, 403, { ok: false, error: { code: verified.code, message: verified.message } });
      return;
    }
    const request = JSON.parse(body.toString('utf8')) as {
      actor: string;
      action: string;
      resource?: string;
      context?: Record<string, unknown>;
      params?: unknown;
      request_id?: string;
    };
    seq += 1;
    const fields: DecisionFields = {
      kind: 'decision',
      request_id: request.request_id ?? `srv-${seq}`,
      actor: request.actor,
      action: request.action,
      resource: request.resource ?? '',
      context_sha256: sha256Hex(canonicalizeData(request.context ?? {})),
      params_sha256: canonicalSha256(request.params ?? null),
      decision: 'allow',
      reason: `allowed by policy \`allow-${request.actor}\``,
      policy_ids: [`allow-${request.actor}`],
      policy_set_sha256: sha256Hex('[]'),
      errors: [],
      config_version: 1,
    };
    const unsigned = {
      schema: RECORD_SCHEMA,
      chain: 'floor',
      seq,
      id: `floor-${seq}`,
      timestamp: new Date().toISOString(),
      principal_arn: PRINCIPAL,
      signing_key_id: signer.keyId,
      previous_hash: head,
      ...fields,
    } as UnsignedRecord;
    const record = await signRecord(unsigned, signer);
    const text = canonicalize(record);
    head = record.current_hash;
    reply(res, 200, {
      ok: true,
      actor: request.actor,
      action: request.action,
      resource: fields.resource,
      decision: fields.decision,
      reason: fields.reason,
      audit: JSON.parse(text),
    });
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => reply(res, 500, { ok: false, error: String(error) }));
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const { port } = server.address() as AddressInfo;
  allowedHosts = new Set([`127.0.0.1:${port}`]);
  return {
    url: `http://127.0.0.1:${port}`,
    region,
    credentials,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}
