import { beforeEach, describe, expect, it } from 'vitest';
import { InMemoryP256Signer, recordSigningPayload } from '../../core/keys/signing.js';
import { canonicalizeData, canonicalSha256, sha256Hex } from '../../core/model/canonical.js';
import type { AuditRecord, DecisionFields, DecisionRecord, KeyRecord } from '../../core/model/records.js';
import {
  awsActionName,
  guardMcpToolCall,
  guardToolCall,
  mcpActionName,
  protect,
  TrustedKeySet,
  toolActionName,
  verifyDecisionRecord,
  ZeroTrustClient,
  type ZeroTrustClientOptions,
  ZeroTrustError,
  type ZeroTrustErrorCode,
} from '../../sdk/index.js';
import { ChainBuilder, cloneRecord } from '../helpers/chainFactory.js';

const NOW = new Date('2026-11-26T08:00:00.000Z');
const ENDPOINT = 'https://gateway.test';
const CREDENTIALS = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};

interface SeenRequest {
  method: string;
  path: string;
  body: Record<string, unknown> | undefined;
}

type Answer = { status: number; body?: unknown; text?: string } | 'timeout' | Error;

/** Builds the record the real gateway would write for a `POST /actions` body. */
function decisionFields(body: Record<string, unknown>, decision: 'allow' | 'deny'): DecisionFields {
  return {
    kind: 'decision',
    request_id: body['request_id'] as string,
    actor: body['actor'] as string,
    action: body['action'] as string,
    resource: (body['resource'] as string | undefined) ?? '',
    context_sha256: sha256Hex(canonicalizeData(body['context'] ?? {})),
    params_sha256: canonicalSha256(body['params']),
    decision,
    reason: decision === 'allow' ? 'permitted by policy `p1`' : 'no policy permits this action',
    policy_ids: decision === 'allow' ? ['p1'] : [],
    policy_set_sha256: sha256Hex('[]'),
    errors: [],
  };
}

/**
 * A gateway in a `fetch`: real P-256 keys, a root-certified session key, real signed records. By default
 * it allows everything and accepts one `started` per decision; tests replace `onDecide` to misbehave.
 */
class FakeGateway {
  readonly root = InMemoryP256Signer.generate();
  readonly session = InMemoryP256Signer.generate();
  readonly chain = new ChainBuilder({ start: NOW, stepMs: 10 });
  readonly requests: SeenRequest[] = [];
  readonly events: string[] = [];
  certificate!: KeyRecord;
  /** Entries of `GET /keys`; built by `init`, tests may edit them. */
  keys: Array<Record<string, unknown>> = [];
  decision: 'allow' | 'deny' = 'allow';
  /** Replaces the default answer to `POST /actions` (return undefined for the default). */
  onDecide: ((body: Record<string, unknown>, attempt: number) => Promise<Answer | undefined>) | null = null;
  /** Replaces the answer to `POST /actions/{id}/outcome` (return undefined for the default). */
  onOutcome: ((status: string, body: Record<string, unknown>) => Promise<Answer | undefined>) | null = null;
  readonly #started = new Set<string>();
  readonly #byRequestId = new Map<string, AuditRecord>();

  async init(): Promise<this> {
    this.certificate = await this.chain.certify(this.root, this.session, {
      notBefore: new Date(NOW.getTime() - 1000),
      notAfter: new Date(NOW.getTime() + 3_600_000),
    });
    this.keys = [
      { keyId: this.root.keyId, role: 'root', publicKeyPem: this.root.publicKeyPem },
      {
        keyId: this.session.keyId,
        role: 'session',
        publicKeyPem: this.session.publicKeyPem,
        notBefore: this.certificate.not_before,
        notAfter: this.certificate.not_after,
        certificate: this.certificate,
      },
    ];
    return this;
  }

  /** A signed decision record for `body`, as the gateway would write it. */
  async sign(
    body: Record<string, unknown>,
    decision: 'allow' | 'deny' = this.decision,
    opts: { signer?: InMemoryP256Signer; timestamp?: Date } = {},
  ): Promise<DecisionRecord> {
    return (await this.chain.append(decisionFields(body, decision), opts.signer ?? this.session, {
      ...(opts.timestamp ? { timestamp: opts.timestamp } : {}),
    })) as DecisionRecord;
  }

  decisions(): SeenRequest[] {
    return this.requests.filter((r) => r.method === 'POST' && r.path === '/actions');
  }

  fetch = async (input: string, init: RequestInit): Promise<Response> => {
    const url = new URL(input);
    const body =
      typeof init.body === 'string' ? (JSON.parse(init.body) as Record<string, unknown>) : undefined;
    this.requests.push({ method: init.method ?? 'GET', path: url.pathname, body });
    const answer = await this.#route(init.method ?? 'GET', url.pathname, body);
    if (answer === 'timeout') {
      return new Promise((_resolve, reject) => {
        init.signal?.addEventListener('abort', () => reject(init.signal?.reason));
      });
    }
    if (answer instanceof Error) throw answer;
    const text = answer.text ?? JSON.stringify(answer.body);
    return new Response(text, { status: answer.status, headers: { 'content-type': 'application/json' } });
  };

  async #route(method: string, path: string, body: Record<string, unknown> | undefined): Promise<Answer> {
    if (method === 'GET' && path === '/keys') return { status: 200, body: { keys: this.keys } };
    if (method === 'POST' && path === '/actions' && body) {
      this.events.push('decide');
      const custom = await this.onDecide?.(body, this.decisions().length);
      if (custom !== undefined) return custom;
      const known = this.#byRequestId.get(body['request_id'] as string);
      const record = known ?? (await this.sign(body));
      this.#byRequestId.set(record.kind === 'decision' ? record.request_id : '', record);
      const allow = (record as DecisionRecord).decision === 'allow';
      return {
        status: allow ? 200 : 403,
        body: { ok: allow, decision: (record as DecisionRecord).decision, audit: record },
      };
    }
    const outcome = /^\/actions\/([^/]+)\/outcome$/.exec(path);
    if (method === 'POST' && outcome && body) {
      const id = decodeURIComponent(outcome[1] as string);
      const status = body['status'] as 'started' | 'succeeded' | 'failed';
      this.events.push(`outcome:${status}`);
      const custom = await this.onOutcome?.(status, body);
      if (custom !== undefined) return custom;
      if (status === 'started') {
        if (this.#started.has(id)) {
          return { status: 409, body: { ok: false, error: { code: 'ALREADY_STARTED', message: 'used' } } };
        }
        this.#started.add(id);
      }
      const record = await this.chain.append(
        {
          kind: 'outcome',
          decision_id: id,
          status,
          exit_code: (body['exit_code'] as number | null | undefined) ?? null,
          output_sha256: (body['output_sha256'] as string | null | undefined) ?? null,
          ...(typeof body['nonce'] === 'string' ? { nonce: body['nonce'] } : {}),
        },
        this.session,
      );
      return { status: 200, body: { ok: true, audit: record } };
    }
    return { status: 404, body: { ok: false, error: { code: 'NOT_FOUND', message: 'no route' } } };
  }
}

/** A client of `gateway` with its root key pinned (the default every real client must use). */
function client(gateway: FakeGateway, options: Partial<ZeroTrustClientOptions> = {}): ZeroTrustClient {
  return new ZeroTrustClient({
    endpoint: ENDPOINT,
    credentials: CREDENTIALS,
    fetch: gateway.fetch,
    clock: () => NOW,
    retryBaseDelayMs: 1,
    timeoutMs: 200,
    trustedKeys: [gateway.root.publicKeyPem],
    ...options,
  });
}

/** A client that takes the root keys from the first `GET /keys` answer (explicitly asked for). */
function tofuClient(gateway: FakeGateway, options: Partial<ZeroTrustClientOptions> = {}): ZeroTrustClient {
  return new ZeroTrustClient({
    endpoint: ENDPOINT,
    credentials: CREDENTIALS,
    fetch: gateway.fetch,
    clock: () => NOW,
    retryBaseDelayMs: 1,
    timeoutMs: 200,
    dangerouslyTrustOnFirstUse: true,
    ...options,
  });
}

const REQUEST = {
  actor: 'ci',
  action: 'aws.ec2.terminate_instances',
  resource: 'arn:aws:ec2:us-east-1:123456789012:instance/i-0abc',
  params: { InstanceIds: ['i-0abc'], DryRun: false },
};

/** Runs `guard` with a spy `fn`; returns the error and whether `fn` ran. */
async function guarded(zt: ZeroTrustClient, request: Parameters<ZeroTrustClient['guard']>[0] = REQUEST) {
  let called = 0;
  const error = await zt
    .guard(request, () => {
      called += 1;
      return 'ran';
    })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  return { error, called };
}

function expectCode(error: unknown, code: ZeroTrustErrorCode): ZeroTrustError {
  expect(error).toBeInstanceOf(ZeroTrustError);
  expect((error as ZeroTrustError).code).toBe(code);
  return error as ZeroTrustError;
}

const netError = (code: string) =>
  new TypeError('fetch failed', { cause: Object.assign(new Error(`connect ${code}`), { code }) });

let gw: FakeGateway;
beforeEach(async () => {
  gw = await new FakeGateway().init();
});

describe('when the gateway gives no usable answer (fail-closed matrix)', () => {
  type Case = [string, (body: Record<string, unknown>) => Promise<Answer> | Answer, ZeroTrustErrorCode];
  const cases: Case[] = [
    ['the request times out', () => 'timeout', 'TIMEOUT'],
    ['the connection is refused', () => netError('ECONNREFUSED'), 'CONNECTION_FAILED'],
    ['the connection is reset', () => netError('ECONNRESET'), 'CONNECTION_FAILED'],
    ['the host does not resolve', () => netError('ENOTFOUND'), 'DNS_FAILURE'],
    [
      'it answers 500',
      () => ({ status: 500, body: { ok: false, error: { code: 'INTERNAL', message: 'x', trace_id: 't' } } }),
      'SERVER_ERROR',
    ],
    ['it answers 503 every time', () => ({ status: 503, body: { ok: false } }), 'SERVER_ERROR'],
    [
      'it answers 502 with an HTML page',
      () => ({ status: 502, text: '<html>bad gateway</html>' }),
      'SERVER_ERROR',
    ],
    [
      'it answers 403 without a record',
      () => ({ status: 403, body: { ok: false, error: { code: 'FORBIDDEN', message: 'signature' } } }),
      'REJECTED',
    ],
    [
      'it answers 400',
      () => ({ status: 400, body: { ok: false, error: { code: 'VALIDATION', message: 'bad' } } }),
      'REJECTED',
    ],
    [
      'it answers 409 (request in progress)',
      () => ({ status: 409, body: { ok: false, error: { code: 'REQUEST_IN_PROGRESS', message: 'wait' } } }),
      'REJECTED',
    ],
    [
      'it answers 200 with a body that is not JSON',
      () => ({ status: 200, text: 'OK allow' }),
      'NON_JSON_RESPONSE',
    ],
    [
      'it answers 200 without `audit`',
      () => ({ status: 200, body: { ok: true, decision: 'allow' } }),
      'MISSING_RECORD',
    ],
    [
      'it answers 200 with `audit: null`',
      () => ({ status: 200, body: { ok: true, audit: null } }),
      'MISSING_RECORD',
    ],
    [
      'the record is not a record',
      () => ({ status: 200, body: { ok: true, audit: { decision: 'allow' } } }),
      'RECORD_INVALID',
    ],
    [
      'the record is for another action',
      async (b) => ({ status: 200, body: { audit: await gw.sign({ ...b, action: 'aws.iam.delete_role' }) } }),
      'RECORD_MISMATCH',
    ],
    [
      'the record is for other params',
      async (b) => ({
        status: 200,
        body: { audit: await gw.sign({ ...b, params: { InstanceIds: ['i-0other'] } }) },
      }),
      'RECORD_MISMATCH',
    ],
    [
      'the record is for another actor',
      async (b) => ({ status: 200, body: { audit: await gw.sign({ ...b, actor: 'intruder' }) } }),
      'RECORD_MISMATCH',
    ],
    [
      'the record is for another resource',
      async (b) => ({
        status: 200,
        body: { audit: await gw.sign({ ...b, resource: 'arn:aws:ec2:::instance/i-1' }) },
      }),
      'RECORD_MISMATCH',
    ],
    [
      'the record is for another context',
      async (b) => ({ status: 200, body: { audit: await gw.sign({ ...b, context: { ticket: 'OPS-1' } }) } }),
      'RECORD_MISMATCH',
    ],
    [
      'the record answers another request_id (a replayed allow)',
      async (b) => ({ status: 200, body: { audit: await gw.sign({ ...b, request_id: 'zt-old-request' }) } }),
      'RECORD_MISMATCH',
    ],
    [
      'a 200 carries a deny record',
      async (b) => ({ status: 200, body: { audit: await gw.sign(b, 'deny') } }),
      'RECORD_MISMATCH',
    ],
    [
      'the body says allow but the record says deny',
      async (b) => ({ status: 403, body: { decision: 'allow', audit: await gw.sign(b, 'deny') } }),
      'RECORD_MISMATCH',
    ],
    [
      'a field was altered after signing (hash mismatch)',
      async (b) => {
        const record = cloneRecord(await gw.sign(b, 'deny'));
        record.decision = 'allow';
        return { status: 200, body: { audit: record } };
      },
      'RECORD_INVALID',
    ],
    [
      'the signature is not the named key',
      async (b) => {
        const record = cloneRecord(await gw.sign(b));
        const forger = InMemoryP256Signer.generate();
        record.kms_signature.signature = await forger.sign(Buffer.from(recordSigningPayload(record), 'utf8'));
        return { status: 200, body: { audit: record } };
      },
      'SIGNATURE_INVALID',
    ],
    [
      'the record is signed by a key nobody certified',
      async (b) => ({
        status: 200,
        body: { audit: await gw.sign(b, 'allow', { signer: InMemoryP256Signer.generate() }) },
      }),
      'UNTRUSTED_KEY',
    ],
    [
      'the record is too old',
      async (b) => ({
        status: 200,
        body: { audit: await gw.sign(b, 'allow', { timestamp: new Date(NOW.getTime() - 3_600_000) }) },
      }),
      'RECORD_STALE',
    ],
  ];

  for (const [situation, answer, code] of cases) {
    describe(`when ${situation}`, () => {
      it(`does not run fn and rejects with ${code}`, async () => {
        // Prepare
        gw.onDecide = async (body) => answer(body);
        // Act
        const { error, called } = await guarded(client(gw, { timeoutMs: 30 }));
        // Assess
        expectCode(error, code);
        expect(called).toBe(0);
        expect(gw.events).not.toContain('outcome:started');
      });
    });
  }
});

describe('when the decision is a verified deny', () => {
  it('decide returns it as a value and guard throws DENIED with the record, without running fn', async () => {
    // Prepare
    gw.decision = 'deny';
    const zt = client(gw);
    // Act
    const decided = await zt.decide(REQUEST);
    const { error, called } = await guarded(zt);
    // Assess
    expect(decided.decision).toBe('deny');
    const err = expectCode(error, 'DENIED');
    expect(err.reason).toBe('no policy permits this action');
    expect(err.record?.decision).toBe('deny');
    expect(called).toBe(0);
  });

  it('still refuses when the deny record does not verify', async () => {
    // Prepare
    gw.onDecide = async (b) => ({
      status: 403,
      body: { audit: await gw.sign(b, 'deny', { signer: InMemoryP256Signer.generate() }) },
    });
    // Act
    const { error, called } = await guarded(client(gw));
    // Assess
    expectCode(error, 'UNTRUSTED_KEY');
    expect(called).toBe(0);
  });
});

describe('when session keys are not properly certified', () => {
  it('refuses a session key listed without its certificate (UNTRUSTED_KEY)', async () => {
    // Prepare
    delete gw.keys[1]?.['certificate'];
    // Act
    const { error, called } = await guarded(client(gw));
    // Assess
    expectCode(error, 'UNTRUSTED_KEY');
    expect(called).toBe(0);
  });

  it('refuses a certificate signed by the session key itself, not by the root', async () => {
    // Prepare
    const selfSigned = await new ChainBuilder({ start: NOW }).certify(gw.session, gw.session, {
      notBefore: new Date(NOW.getTime() - 1000),
    });
    gw.keys[1] = { ...gw.keys[1], certificate: selfSigned };
    // Act
    const { error, called } = await guarded(client(gw));
    // Assess
    expectCode(error, 'UNTRUSTED_KEY');
    expect(called).toBe(0);
  });

  it('refuses a certificate whose window was altered (hash mismatch)', async () => {
    // Prepare
    const altered = cloneRecord(gw.certificate);
    altered.not_after = '2099-01-01T00:00:00.000Z';
    gw.keys[1] = { ...gw.keys[1], certificate: altered };
    // Act
    const { error, called } = await guarded(client(gw));
    // Assess
    expectCode(error, 'UNTRUSTED_KEY');
    expect(called).toBe(0);
  });

  it('refuses a session-key record written outside the certificate window', async () => {
    // Prepare: signed two hours in, the certificate covers one; the local clock agrees with the record.
    const later = new Date(NOW.getTime() + 2 * 3_600_000);
    gw.onDecide = async (b) => ({
      status: 200,
      body: { audit: await gw.sign(b, 'allow', { timestamp: later }) },
    });
    // Act
    const { error, called } = await guarded(client(gw, { clock: () => later }));
    // Assess
    expectCode(error, 'UNTRUSTED_KEY');
    expect(called).toBe(0);
  });

  it('refuses a record signed by another root than the pinned one', async () => {
    // Prepare
    const otherRoot = InMemoryP256Signer.generate();
    // Act
    const { error, called } = await guarded(client(gw, { trustedKeys: [otherRoot.publicKeyPem] }));
    // Assess
    expectCode(error, 'UNTRUSTED_KEY');
    expect(called).toBe(0);
  });
});

describe('when the allow was already claimed', () => {
  it('does not run fn a second time and rejects with ALREADY_STARTED', async () => {
    // Prepare
    const zt = client(gw);
    const request = { ...REQUEST, request_id: 'job-42' };
    let calls = 0;
    await zt.guard(request, () => {
      calls += 1;
    });
    // Act: the same request_id gives back the same (already used) allow
    const { error, called } = await guarded(zt, request);
    // Assess
    expectCode(error, 'ALREADY_STARTED');
    expect(calls).toBe(1);
    expect(called).toBe(0);
  });
});

describe('when the started claim gets no verified answer', () => {
  type Case = [
    string,
    (zt: FakeGateway, body: Record<string, unknown>) => Promise<Answer>,
    ZeroTrustErrorCode,
  ];
  const cases: Case[] = [
    ['it times out', async () => 'timeout', 'TIMEOUT'],
    ['it answers 500', async () => ({ status: 500, body: { ok: false } }), 'SERVER_ERROR'],
    ['it answers without a record', async () => ({ status: 200, body: { ok: true } }), 'MISSING_RECORD'],
    [
      'the outcome record is signed by an unknown key',
      async (g, body) => ({
        status: 200,
        body: {
          audit: await g.chain.append(
            {
              kind: 'outcome',
              decision_id: 'main-2',
              status: 'started',
              exit_code: null,
              output_sha256: null,
              nonce: body['nonce'] as string,
            },
            InMemoryP256Signer.generate(),
          ),
        },
      }),
      'UNTRUSTED_KEY',
    ],
  ];
  for (const [situation, answer, code] of cases) {
    it(`does not run fn when ${situation} (${code})`, async () => {
      // Prepare
      gw.onOutcome = async (status, body) => (status === 'started' ? answer(gw, body) : undefined);
      // Act
      const { error, called } = await guarded(client(gw, { timeoutMs: 30, retries: 0 }));
      // Assess
      expectCode(error, code);
      expect(called).toBe(0);
    });
  }
});

describe('when the final outcome cannot be recorded', () => {
  it('still returns the result of fn and hands the error to onReportError', async () => {
    // Prepare
    gw.onOutcome = async (status) =>
      status === 'succeeded' ? { status: 500, body: { ok: false } } : undefined;
    const reported: Array<[string, string]> = [];
    // Act
    const result = await client(gw).guard(REQUEST, () => 'done', {
      onReportError: (error, recordId) => reported.push([error.code, recordId]),
    });
    // Assess
    expect(result).toBe('done');
    expect(reported).toEqual([['SERVER_ERROR', 'main-2']]);
  });
});

describe('when the gateway allows', () => {
  it('claims with started, runs fn once, then reports succeeded with the output digest', async () => {
    // Prepare
    const zt = client(gw);
    // Act
    const result = await zt.guard(REQUEST, ({ decision }) => {
      gw.events.push('fn');
      expect(decision.decision).toBe('allow');
      return { terminated: ['i-0abc'] };
    });
    // Assess
    expect(result).toEqual({ terminated: ['i-0abc'] });
    expect(gw.events).toEqual(['decide', 'outcome:started', 'fn', 'outcome:succeeded']);
    const final = gw.requests.at(-1);
    expect(final?.body).toEqual({
      status: 'succeeded',
      exit_code: 0,
      output_sha256: canonicalSha256({ terminated: ['i-0abc'] }),
      nonce: expect.stringMatching(/^[A-Za-z0-9_-]{16,128}$/),
    });
    // Each report carries its own fresh nonce.
    const nonces = gw.requests.filter((r) => r.path.endsWith('/outcome')).map((r) => r.body?.['nonce']);
    expect(new Set(nonces).size).toBe(2);
    const decision = gw.decisions()[0]?.body;
    expect(typeof decision?.['request_id']).toBe('string');
    expect(decision?.['params']).toEqual(REQUEST.params);
  });

  it('reports failed and rethrows when fn throws', async () => {
    // Prepare
    const zt = client(gw);
    const boom = new Error('ec2 said no');
    // Act
    const error = await zt
      .guard(REQUEST, () => {
        gw.events.push('fn');
        throw boom;
      })
      .catch((e: unknown) => e);
    // Assess
    expect(error).toBe(boom);
    expect(gw.events).toEqual(['decide', 'outcome:started', 'fn', 'outcome:failed']);
    expect(gw.requests.at(-1)?.body).toEqual({
      status: 'failed',
      exit_code: 1,
      output_sha256: null,
      nonce: expect.any(String),
    });
  });

  it('does not report the final outcome with reportOutcome: false, but still claims started', async () => {
    // Act
    await client(gw).guard(REQUEST, () => 1, { reportOutcome: false });
    // Assess
    expect(gw.events).toEqual(['decide', 'outcome:started']);
  });

  it('trusting on first use, fetches the root keys once for the client life', async () => {
    // Prepare
    const zt = tofuClient(gw);
    // Act
    await zt.decide(REQUEST);
    await zt.decide(REQUEST);
    // Assess
    expect(gw.requests.filter((r) => r.path === '/keys')).toHaveLength(1);
  });

  it('with pinned root keys, follows the session certificate from `GET /keys`', async () => {
    // Act
    const decided = await client(gw, { trustedKeys: [gw.root.publicKeyPem] }).decide(REQUEST);
    // Assess
    expect(decided).toMatchObject({ decision: 'allow', recordId: decided.record.id });
  });

  it('accepts a record signed by the root key directly', async () => {
    // Prepare
    gw.onDecide = async (b) => ({
      status: 200,
      body: { audit: await gw.sign(b, 'allow', { signer: gw.root }) },
    });
    // Act
    const decided = await client(gw).decide(REQUEST);
    // Assess
    expect(decided.decision).toBe('allow');
  });

  it('learns a session key certified after the first key fetch', async () => {
    // Prepare
    const zt = client(gw);
    await zt.decide(REQUEST);
    const next = InMemoryP256Signer.generate();
    const cert = await gw.chain.certify(gw.root, next, { notBefore: new Date(NOW.getTime() - 1000) });
    gw.keys.push({ keyId: next.keyId, role: 'session', publicKeyPem: next.publicKeyPem, certificate: cert });
    gw.onDecide = async (b) => ({
      status: 200,
      body: { audit: await gw.sign(b, 'allow', { signer: next }) },
    });
    // Act
    const decided = await zt.decide(REQUEST);
    // Assess
    expect(decided.decision).toBe('allow');
    expect(gw.requests.filter((r) => r.path === '/keys')).toHaveLength(2);
  });

  it('trusting on first use, never learns a root key from a later key listing', async () => {
    // Prepare
    const zt = tofuClient(gw);
    await zt.decide(REQUEST);
    const rogue = InMemoryP256Signer.generate();
    gw.keys.push({ keyId: rogue.keyId, role: 'root', publicKeyPem: rogue.publicKeyPem });
    gw.onDecide = async (b) => ({
      status: 200,
      body: { audit: await gw.sign(b, 'allow', { signer: rogue }) },
    });
    // Act
    const { error, called } = await guarded(zt);
    // Assess
    expectCode(error, 'UNTRUSTED_KEY');
    expect(called).toBe(0);
  });
});

describe('when a transport failure is retried', () => {
  it('sends the same request_id again and believes the second answer', async () => {
    // Prepare
    gw.onDecide = async (_b, attempt) => (attempt === 1 ? 'timeout' : undefined);
    // Act
    const decided = await client(gw, { timeoutMs: 30 }).decide(REQUEST);
    // Assess
    const sent = gw.decisions().map((r) => r.body?.['request_id']);
    expect(sent).toHaveLength(2);
    expect(sent[0]).toBe(sent[1]);
    expect(decided.record.request_id).toBe(sent[0]);
  });

  it('retries a 503 at most `retries` times', async () => {
    // Prepare
    gw.onDecide = async () => ({ status: 503, body: { ok: false } });
    // Act
    const { error } = await guarded(client(gw, { retries: 2 }));
    // Assess
    expectCode(error, 'SERVER_ERROR');
    expect(gw.decisions()).toHaveLength(3);
  });

  it('never retries a 4xx', async () => {
    // Prepare
    gw.onDecide = async () => ({
      status: 400,
      body: { ok: false, error: { code: 'VALIDATION', message: 'x' } },
    });
    // Act
    const { error } = await guarded(client(gw, { retries: 2 }));
    // Assess
    expectCode(error, 'REJECTED');
    expect(gw.decisions()).toHaveLength(1);
  });

  it('does not retry a 500', async () => {
    // Prepare
    gw.onDecide = async () => ({ status: 500, body: { ok: false } });
    // Act
    await guarded(client(gw, { retries: 2 }));
    // Assess
    expect(gw.decisions()).toHaveLength(1);
  });
});

describe('when the request itself cannot be sent', () => {
  it('rejects params that JSON cannot carry, before any request', async () => {
    // Act
    const { error, called } = await guarded(client(gw), { ...REQUEST, params: { n: Number.NaN } });
    // Assess
    expectCode(error, 'INVALID_REQUEST');
    expect(called).toBe(0);
    expect(gw.requests).toHaveLength(0);
  });
});

describe('when signature verification is explicitly disabled', () => {
  it('still checks hashes and bindings', async () => {
    // Prepare
    gw.onDecide = async (b) => ({ status: 200, body: { audit: await gw.sign({ ...b, action: 'other' }) } });
    // Act
    const { error, called } = await guarded(client(gw, { dangerouslyDisableSignatureVerification: true }));
    // Assess
    expectCode(error, 'RECORD_MISMATCH');
    expect(called).toBe(0);
  });
});

describe('when using the framework helpers', () => {
  it('guardToolCall asks for tool.<name> with the parsed JSON arguments as params', async () => {
    // Act
    const out = await guardToolCall(
      client(gw),
      { actor: 'ci', name: 'send_email', arguments: '{"to":"a@example.com"}' },
      (args) => `sent to ${String(args['to'])}`,
    );
    // Assess
    expect(out).toBe('sent to a@example.com');
    expect(gw.decisions()[0]?.body).toMatchObject({
      action: 'tool.send_email',
      params: { to: 'a@example.com' },
    });
  });

  it('guardToolCall refuses arguments that are not JSON, asking nothing', async () => {
    // Act
    let called = 0;
    const error = await guardToolCall(client(gw), { actor: 'ci', name: 'x', arguments: '{nope' }, () => {
      called += 1;
    }).catch((e: unknown) => e);
    // Assess
    expectCode(error, 'INVALID_REQUEST');
    expect(called).toBe(0);
    expect(gw.requests).toHaveLength(0);
  });

  it('guardMcpToolCall asks for mcp.<server>.<tool>', async () => {
    // Act
    await guardMcpToolCall(
      client(gw),
      { actor: 'ci', server: 'github', tool: 'create_issue', arguments: { title: 't' } },
      () => 'ok',
    );
    // Assess
    expect(gw.decisions()[0]?.body).toMatchObject({
      action: 'mcp.github.create_issue',
      params: { title: 't' },
    });
  });

  it('never builds one action name for two different calls: a separator in an inner segment is refused', async () => {
    // Prepare: server `a.b` + tool `c` would be `mcp.a.b.c`, the name of server `a` + tool `b.c`.
    let ran = 0;
    const run = () => {
      ran += 1;
    };
    // Act
    const colliding = await guardMcpToolCall(client(gw), { actor: 'ci', server: 'a.b', tool: 'c' }, run).then(
      () => undefined,
      (e: unknown) => e,
    );
    await guardMcpToolCall(client(gw), { actor: 'ci', server: 'a', tool: 'b.c' }, run);
    // Assess
    expectCode(colliding, 'INVALID_REQUEST');
    expect(gw.decisions().map((r) => r.body?.['action'])).toEqual(['mcp.a.b.c']);
    expect(ran).toBe(1);
    expect(() => mcpActionName('a.b', 'c')).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST' }));
    expect(() => awsActionName('ec2.x', 'Run')).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST' }));
    expect(() => awsActionName('ec2', 'Run.Instances')).toThrow(
      expect.objectContaining({ code: 'INVALID_REQUEST' }),
    );
    expect(toolActionName('search.web')).toBe('tool.search.web');
  });

  it('protect sends the call arguments as params and runs the function only when allowed', async () => {
    // Prepare
    const refund = protect(
      client(gw),
      { actor: 'ci', action: 'billing.refund' },
      async (order: string, cents: number) => ({
        order,
        cents,
      }),
    );
    // Act
    const out = await refund('order-42', 1999);
    gw.decision = 'deny';
    const denied = await refund('order-43', 1).catch((e: unknown) => e);
    // Assess
    expect(out).toEqual({ order: 'order-42', cents: 1999 });
    expect(gw.decisions()[0]?.body).toMatchObject({ action: 'billing.refund', params: ['order-42', 1999] });
    expectCode(denied, 'DENIED');
  });
});

describe('when a broker verifies a record it holds (verifyDecisionRecord)', () => {
  it('accepts a params digest instead of the params', async () => {
    // Prepare
    const trust = new TrustedKeySet([gw.root.publicKeyPem]);
    trust.addCertificate(gw.certificate);
    const body = { ...REQUEST, request_id: 'broker-1' };
    const record = await gw.sign(body);
    // Act
    const verdict = verifyDecisionRecord(
      record,
      { ...body, params_sha256: canonicalSha256(REQUEST.params), params: undefined },
      trust,
      { now: NOW },
    );
    // Assess
    expect(verdict).toMatchObject({ ok: true, decision: 'allow' });
  });
});

describe('when the client is built without pinned root keys', () => {
  it('refuses to be built without trustedKeys (TRUST_NOT_PINNED), before asking anything', () => {
    const build = (options: Partial<ZeroTrustClientOptions>) => () =>
      new ZeroTrustClient({ endpoint: ENDPOINT, credentials: CREDENTIALS, fetch: gw.fetch, ...options });

    expect(build({})).toThrow(expect.objectContaining({ code: 'TRUST_NOT_PINNED' }));
    expect(build({ trustedKeys: [] })).toThrow(expect.objectContaining({ code: 'TRUST_NOT_PINNED' }));
    expect(gw.requests).toEqual([]);
  });

  it('refuses trust on first use over plain http to a host that is not loopback (INSECURE_TRUST_ON_FIRST_USE)', () => {
    const build = (endpoint: string) => () =>
      new ZeroTrustClient({
        endpoint,
        credentials: CREDENTIALS,
        fetch: gw.fetch,
        dangerouslyTrustOnFirstUse: true,
      });
    const refused = [
      'http://gateway.example.com',
      'http://10.0.0.5:8787',
      'http://192.168.1.20',
      'http://[::ffff:7f00:1]:8787',
      'http://127.0.0.1.nip.io:8787',
    ];
    const allowed = [
      'http://127.0.0.1:8787',
      'http://127.1.2.3',
      'http://[::1]:8787',
      'http://localhost:8787',
      'https://gateway.example.com',
    ];

    const codeOf = (endpoint: string) => {
      try {
        build(endpoint)();
        return 'built';
      } catch (e) {
        return (e as ZeroTrustError).code;
      }
    };

    expect(refused.map(codeOf)).toEqual(refused.map(() => 'INSECURE_TRUST_ON_FIRST_USE'));
    expect(allowed.map(codeOf)).toEqual(allowed.map(() => 'built'));
  });
});

describe('when an earlier `started` answer is replayed', () => {
  it('does not run fn twice: the replayed record carries the nonce of another request (RECORD_MISMATCH)', async () => {
    // Prepare: a first guard runs and its genuine, signed `started` answer is captured on the way back.
    const zt = client(gw);
    const request = { ...REQUEST, request_id: 'job-7' };
    let captured: Answer | undefined;
    gw.onOutcome = async (status, body) => {
      if (status !== 'started' || captured !== undefined) return undefined;
      const record = await gw.chain.append(
        {
          kind: 'outcome',
          decision_id: gw.chain.lastDecisionId as string,
          status: 'started',
          exit_code: null,
          output_sha256: null,
          nonce: body['nonce'] as string,
        },
        gw.session,
      );
      captured = { status: 200, body: { ok: true, audit: record } };
      return captured;
    };
    let calls = 0;
    await zt.guard(request, () => {
      calls += 1;
    });
    // Act: the same request_id gives back the same allow; the gateway's 409 is swapped for the old answer.
    gw.onOutcome = async (status) => (status === 'started' ? captured : undefined);
    const { error, called } = await guarded(zt, request);
    // Assess
    expectCode(error, 'RECORD_MISMATCH');
    expect(calls).toBe(1);
    expect(called).toBe(0);
  });

  it('does not run fn on a `started` record that carries no nonce', async () => {
    // Prepare
    gw.onOutcome = async (status) =>
      status === 'started'
        ? {
            status: 200,
            body: {
              ok: true,
              audit: await gw.chain.append(
                {
                  kind: 'outcome',
                  decision_id: gw.chain.lastDecisionId as string,
                  status: 'started',
                  exit_code: null,
                  output_sha256: null,
                },
                gw.session,
              ),
            },
          }
        : undefined;
    // Act
    const { error, called } = await guarded(client(gw));
    // Assess
    expectCode(error, 'RECORD_MISMATCH');
    expect(called).toBe(0);
  });
});
