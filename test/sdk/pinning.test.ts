import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import { canonicalizeData, canonicalSha256, sha256Hex } from '../../core/model/canonical.js';
import { ZeroTrustClient, ZeroTrustError } from '../../sdk/index.js';
import { ChainBuilder } from '../helpers/chainFactory.js';

/**
 * The attacker's side of key pinning: a fake gateway (a wrong URL, a DNS answer, anyone on a plain http
 * path) on loopback that answers with its own keys and a forged allow, signed and bound to the request
 * exactly as the real gateway would. A client that pins the real root key never runs the guarded function.
 */

const CREDENTIALS = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};

/** The fake: its own root and session key, a certificate for it, and a forged record for every request. */
class FakeGatewayServer {
  readonly root = InMemoryP256Signer.generate();
  readonly session = InMemoryP256Signer.generate();
  readonly chain = new ChainBuilder({ start: new Date(Date.now() - 1000) });
  readonly seen: string[] = [];
  #server: Server | null = null;
  url = '';

  async start(): Promise<this> {
    const certificate = await this.chain.certify(this.root, this.session, {
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3_600_000),
    });
    const keys = [
      { keyId: this.root.keyId, role: 'root', publicKeyPem: this.root.publicKeyPem },
      { keyId: this.session.keyId, role: 'session', publicKeyPem: this.session.publicKeyPem, certificate },
    ];
    this.#server = createServer((req, res) => {
      let text = '';
      req.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
      });
      req.on('end', () => {
        void this.#answer(req.method ?? 'GET', req.url ?? '/', text, keys).then(([status, body]) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(body));
        });
      });
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async #answer(method: string, path: string, text: string, keys: unknown[]): Promise<[number, unknown]> {
    this.seen.push(`${method} ${path}`);
    const body = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
    const now = { timestamp: new Date() };
    if (method === 'GET' && path === '/keys') return [200, { keys }];
    if (method === 'POST' && path === '/actions') {
      const record = await this.chain.append(
        {
          kind: 'decision',
          request_id: body['request_id'] as string,
          actor: body['actor'] as string,
          action: body['action'] as string,
          resource: (body['resource'] as string | undefined) ?? '',
          context_sha256: sha256Hex(canonicalizeData(body['context'] ?? {})),
          params_sha256: canonicalSha256(body['params'] ?? null),
          decision: 'allow',
          reason: 'permitted by policy `forged`',
          policy_ids: ['forged'],
          policy_set_sha256: sha256Hex('forged'),
          errors: [],
        },
        this.session,
        now,
      );
      return [200, { ok: true, decision: 'allow', audit: record }];
    }
    const outcome = /^\/actions\/([^/]+)\/outcome$/.exec(path);
    if (method === 'POST' && outcome) {
      const record = await this.chain.append(
        {
          kind: 'outcome',
          decision_id: decodeURIComponent(outcome[1] as string),
          status: body['status'] as 'started',
          exit_code: (body['exit_code'] as number | null | undefined) ?? null,
          output_sha256: (body['output_sha256'] as string | null | undefined) ?? null,
          ...(typeof body['nonce'] === 'string' ? { nonce: body['nonce'] } : {}),
        },
        this.session,
        now,
      );
      return [200, { ok: true, audit: record }];
    }
    return [404, { ok: false, error: { code: 'NOT_FOUND', message: 'no route' } }];
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}

const REQUEST = {
  actor: 'ci',
  action: 'aws.ec2.terminate_instances',
  resource: 'arn:aws:ec2:us-east-1:123456789012:instance/i-0abc',
  params: { InstanceIds: ['i-0abc'] },
};

describe('when a fake gateway answers on loopback over plain http with its own keys and a forged allow', () => {
  let fake: FakeGatewayServer;
  /** The real gateway's root key: what the client pins. */
  const realRoot = InMemoryP256Signer.generate();

  beforeAll(async () => {
    fake = await new FakeGatewayServer().start();
  });

  afterAll(async () => {
    await fake.close();
  });

  it('never runs the guarded function for a client that pins the real root key (UNTRUSTED_KEY)', async () => {
    // Prepare
    const zt = new ZeroTrustClient({
      endpoint: fake.url,
      credentials: CREDENTIALS,
      trustedKeys: [realRoot.publicKeyPem],
      retries: 0,
    });
    let called = 0;
    // Act
    const error = await zt
      .guard(REQUEST, () => {
        called += 1;
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    // Assess: the forged allow was received (and its key's certificate fetched), and refused.
    expect(error).toBeInstanceOf(ZeroTrustError);
    expect((error as ZeroTrustError).code).toBe('UNTRUSTED_KEY');
    expect(called).toBe(0);
    expect(fake.seen).toContain('POST /actions');
    expect(fake.seen.some((s) => s.endsWith('/outcome'))).toBe(false);
  });

  it('does fool a client that trusts on first use: why that must be asked for by name, and only on loopback', async () => {
    // Prepare
    const zt = new ZeroTrustClient({
      endpoint: fake.url,
      credentials: CREDENTIALS,
      dangerouslyTrustOnFirstUse: true,
      retries: 0,
    });
    let called = 0;
    // Act
    await zt.guard(REQUEST, () => {
      called += 1;
    });
    // Assess: the fake is good enough that only pinning stops it.
    expect(called).toBe(1);
  });

  it('cannot be reached by a client built without pinned keys: construction is refused (TRUST_NOT_PINNED)', () => {
    let error: unknown;
    try {
      new ZeroTrustClient({ endpoint: fake.url, credentials: CREDENTIALS });
    } catch (e) {
      error = e;
    }

    expect(error).toBeInstanceOf(ZeroTrustError);
    expect((error as ZeroTrustError).code).toBe('TRUST_NOT_PINNED');
  });
});
