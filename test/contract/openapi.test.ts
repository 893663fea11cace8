import { describe, expect, it } from 'vitest';
import { ROUTE_TABLE } from '../../core/model/routes.js';
import {
  documentedOperations,
  loadOpenApiDocument,
  validateRequestBody,
  validateResponse,
} from './openapiValidator.js';

type JsonObject = Record<string, unknown>;

/** DESIGN.md, "The contract": every route, in table order (the route table, core/model/routes.ts). */
const ROUTES: ReadonlyArray<readonly [method: string, path: string]> = ROUTE_TABLE.map(
  (r) => [r.method, r.path] as const,
);

// Real records: a root key certifies a session key (seq 1), which signs an allow (seq 2). Hashes and
// signatures were computed with core/keys/signing.ts; keys in canonical (RFC 8785) order, as stored.
const KEY_RECORD = {
  certified_key_id: 'sha256:2dea4c791c48b3aff5c7539e7b7d98d7a25fb01c3c2d82e44c2c5165a14f7df8',
  certified_public_key_pem:
    '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE054vDAlHVUKSALoZF+yAeGwOtDIz\nXVfgO0IYRfd0ZTNlxFW9E09UOvY9VI6Amv8tyTJZQXWVxutOgynd6D0iQQ==\n-----END PUBLIC KEY-----\n',
  chain: 'main',
  current_hash: '9ac02aa710dcf266eb3b06f17dd63dc0e73152fe598751e0429131a44abe842f',
  id: 'main-1',
  kind: 'key',
  kms_signature: {
    algorithm: 'ECDSA_SHA_256',
    key_id: 'sha256:baf7c4ac3e03a78c5983ff304a8b42acc3587c3c0a86944c6985efe8b76a3628',
    signature:
      'MEUCIFO+q+oLruGfX6wXMM1DN6FJiePbisGRYw4m8mx+HGDxAiEAoOBkiVu1Dt3xJ/fAH9IGrLOQePNKUcMNATc8l9AeAUc=',
  },
  not_after: '2026-11-26T09:20:21.004Z',
  not_before: '2026-11-26T08:20:21.004Z',
  previous_hash: '0000000000000000000000000000000000000000000000000000000000000000',
  principal_arn: 'arn:aws:iam::000000000000:role/zt-gateway',
  schema: 'zt.audit.v1',
  seq: 1,
  signing_key_id: 'sha256:baf7c4ac3e03a78c5983ff304a8b42acc3587c3c0a86944c6985efe8b76a3628',
  timestamp: '2026-11-26T08:20:21.004Z',
};

const ALLOW_RECORD = {
  action: 'hello-world.say_hello',
  actor: 'demo',
  chain: 'main',
  context_sha256: '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  current_hash: 'f1798266a811894a4d7b476c55c7e8798edcb661d30573ae5ddc8ac01e6df687',
  decision: 'allow',
  errors: [],
  id: 'main-2',
  kind: 'decision',
  kms_signature: {
    algorithm: 'ECDSA_SHA_256',
    key_id: 'sha256:2dea4c791c48b3aff5c7539e7b7d98d7a25fb01c3c2d82e44c2c5165a14f7df8',
    signature:
      'MEUCIQCEIOH0QXblKsX0A4ZDMc7jEB8yFNVUD0+7lQRTWHqeJQIgE7/J/Pf2mtnGje9n46KVcobCmN552r/wgOCZWhi8veY=',
  },
  params_sha256: 'd83ab0f70e8ed47030a663f93301492f5957ce13f0d4785d150adb4192564f11',
  policy_ids: ['allow-hello'],
  policy_set_sha256: '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881',
  previous_hash: '9ac02aa710dcf266eb3b06f17dd63dc0e73152fe598751e0429131a44abe842f',
  principal_arn: 'arn:aws:iam::000000000000:user/zt-agent-demo',
  reason: 'permitted by policy `allow-hello`',
  request_id: 'req-0001',
  resource: 'hello',
  schema: 'zt.audit.v1',
  seq: 2,
  signing_key_id: 'sha256:2dea4c791c48b3aff5c7539e7b7d98d7a25fb01c3c2d82e44c2c5165a14f7df8',
  timestamp: '2026-11-26T08:20:22.123Z',
};

const DENY_RECORD = {
  ...ALLOW_RECORD,
  action: 'aws.ec2.terminate_instances',
  current_hash: '3839781a7fca4fbbf7e69c431dbf2df2fddf597bbdbacb7721ca985379ed9ea8',
  decision: 'deny',
  id: 'main-3',
  kms_signature: {
    ...ALLOW_RECORD.kms_signature,
    signature:
      'MEUCIASMptah4cEqMozZmkKaXahlip1vf4Og49X9hHIXjbHDAiEAxG0FTmJlufpg0H58qirhLz7KOR/5p0DZY/Btbj/c9to=',
  },
  params_sha256: '74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b',
  policy_ids: [],
  previous_hash: 'f1798266a811894a4d7b476c55c7e8798edcb661d30573ae5ddc8ac01e6df687',
  reason: 'no policy permits the action',
  request_id: 'srv-1b0e6c1e-5f0f-4a57-9d0e-0c7c2a7c8f11',
  resource: 'i-0123456789abcdef0',
  seq: 3,
  timestamp: '2026-11-26T08:20:23.456Z',
};

const OUTCOME_RECORD = {
  chain: 'main',
  current_hash: 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90',
  decision_id: 'main-2',
  exit_code: null,
  id: 'main-4',
  kind: 'outcome',
  kms_signature: ALLOW_RECORD.kms_signature,
  output_sha256: null,
  previous_hash: '3839781a7fca4fbbf7e69c431dbf2df2fddf597bbdbacb7721ca985379ed9ea8',
  principal_arn: 'arn:aws:iam::000000000000:user/zt-agent-demo',
  schema: 'zt.audit.v1',
  seq: 4,
  signing_key_id: ALLOW_RECORD.signing_key_id,
  status: 'started',
  timestamp: '2026-11-26T08:20:24.001Z',
};

const ALLOW_BODY = {
  ok: true,
  actor: 'demo',
  action: 'hello-world.say_hello',
  resource: 'hello',
  decision: 'allow',
  reason: 'permitted by policy `allow-hello`',
  audit: ALLOW_RECORD,
};

const DENY_BODY = {
  ok: false,
  actor: 'demo',
  action: 'aws.ec2.terminate_instances',
  resource: 'i-0123456789abcdef0',
  decision: 'deny',
  reason: 'no policy permits the action',
  audit: DENY_RECORD,
};

const FORBIDDEN_BODY = {
  ok: false,
  error: { code: 'SIGNATURE_INVALID', message: 'the request signature does not match' },
};

const SERVER_ERROR_BODY = {
  ok: false,
  error: {
    code: 'SIGNING_FAILED',
    message: 'internal error; no decision was recorded',
    trace_id: 'c0ffee-42',
  },
};

const AUDIT_PAGE = { records: [KEY_RECORD, ALLOW_RECORD, DENY_RECORD, OUTCOME_RECORD], next: 4 };

const CHECKPOINT = {
  origin: 'zt-infra/main',
  size: 4,
  root: 'SBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=',
  note:
    'zt-infra/main\n4\nSBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=\n\n' +
    '— zt-infra/main AQIDBB6PScMs6ShQ77SbWsPu2wuvKgSwh6sBjWUfWaOUnXrWVDtruv2OsrHLoo5v7EAXDMauwCKKofk/SkMBuIRO1+ECVQ7m12I=\n',
};

const EPOCH = {
  origin: 'zt-infra',
  epoch: 3,
  time: '2026-11-26T08:00:00.000Z',
  lanes: [{ lane: 'main', size: 4, root: CHECKPOINT.root }],
  note:
    'zt-infra\nepoch 3\ntime 2026-11-26T08:00:00.000Z\nlane main 4 SBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=\n\n' +
    '— zt-infra AQIDBB6PScMs6ShQ77SbWsPu2wuvKgSwh6sBjWUfWaOUnXrWVDtruv2OsrHLoo5v7EAXDMauwCKKofk/SkMBuIRO1+ECVQ7m12I=\n',
};

const LOG_CHECKPOINT = { ...CHECKPOINT, epoch: EPOCH, checkpoints: [CHECKPOINT] };

function errorsOf(result: ReturnType<typeof validateResponse>): string[] {
  return result.ok ? [] : result.errors;
}

/** Every `$ref` in the document, with where it was found. */
function collectRefs(value: unknown, at: string, out: Array<{ ref: string; at: string }>): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      collectRefs(v, `${at}/${i}`, out);
    });
  } else if (value !== null && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      if (key === '$ref' && typeof v === 'string') out.push({ ref: v, at });
      else collectRefs(v, `${at}/${key}`, out);
    }
  }
}

function resolvePointer(doc: JsonObject, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  let target: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (target === null || typeof target !== 'object') return undefined;
    target = (target as JsonObject)[segment];
  }
  return target;
}

function deref(doc: JsonObject, value: unknown): JsonObject {
  let current = value as JsonObject;
  while (typeof current?.['$ref'] === 'string') current = resolvePointer(doc, current['$ref']) as JsonObject;
  return current;
}

describe('when openapi.yaml is parsed', () => {
  const doc = loadOpenApiDocument();
  const paths = doc['paths'] as Record<string, Record<string, JsonObject>>;

  it('is an OpenAPI 3.1.0 document', () => {
    expect(doc['openapi']).toBe('3.1.0');
    expect((doc['info'] as JsonObject)['version']).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('resolves every $ref inside the document', () => {
    const refs: Array<{ ref: string; at: string }> = [];
    collectRefs(doc, '#', refs);
    expect(refs.length).toBeGreaterThan(50);
    const dangling = refs.filter(({ ref }) => resolvePointer(doc, ref) === undefined);
    expect(dangling).toEqual([]);
  });

  it('describes exactly the routes of the contract table', () => {
    const documented = documentedOperations()
      .map((o) => `${o.method} ${o.pathTemplate}`)
      .sort();
    expect(documented).toEqual(ROUTES.map(([m, p]) => `${m} ${p}`).sort());
  });

  it('declares every path parameter and a unique operationId', () => {
    const ids: unknown[] = [];
    for (const [template, item] of Object.entries(paths)) {
      const declared = ((item['parameters'] ?? []) as unknown[])
        .map((p) => deref(doc, p))
        .filter((p) => p['in'] === 'path')
        .map((p) => p['name']);
      const used = [...template.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      expect(declared.sort(), template).toEqual(used.sort());
      for (const [method, operation] of Object.entries(item)) {
        if (method !== 'parameters') ids.push(operation['operationId']);
      }
    }
    expect(ids.every((id) => typeof id === 'string')).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('requires a SigV4 signature on every route but GET /health', () => {
    const scheme = (doc['components'] as JsonObject)['securitySchemes'] as Record<string, JsonObject>;
    expect(scheme['sigv4']).toMatchObject({
      type: 'apiKey',
      in: 'header',
      name: 'Authorization',
      'x-amazon-apigateway-authtype': 'awsSigv4',
    });
    for (const [method, path] of ROUTES) {
      const operation = paths[path]?.[method.toLowerCase()];
      expect(operation, `${method} ${path}`).toBeDefined();
      const security = operation?.['security'] ?? doc['security'];
      expect(security, `${method} ${path}`).toEqual(path === '/health' ? [] : [{ sigv4: [] }]);
    }
  });

  it('documents the failure statuses each operation can answer', () => {
    for (const op of documentedOperations()) {
      const name = `${op.method} ${op.pathTemplate}`;
      expect(op.statuses, name).toContain(500);
      if (op.pathTemplate !== '/health') expect(op.statuses, name).toContain(403);
      const operation = paths[op.pathTemplate]?.[op.method.toLowerCase()];
      if (operation?.['requestBody']) {
        expect(op.statuses, name).toEqual(expect.arrayContaining([400, 413]));
      }
    }
  });

  it('refuses unknown fields in every request body', () => {
    for (const op of documentedOperations()) {
      const operation = paths[op.pathTemplate]?.[op.method.toLowerCase()];
      if (!operation?.['requestBody']) continue;
      const body = deref(doc, operation['requestBody']);
      const schema = deref(
        doc,
        ((body['content'] as JsonObject)['application/json'] as JsonObject)['schema'],
      );
      expect(schema['additionalProperties'], `${op.method} ${op.pathTemplate}`).toBe(false);
    }
  });

  it('bounds the audit page size to 1-1000 with a default of 100', () => {
    const parameters = ((paths['/audit']?.['get']?.['parameters'] ?? []) as unknown[]).map((p) =>
      deref(doc, p),
    );
    const limit = parameters.find((p) => p['name'] === 'limit');
    expect(limit?.['schema']).toEqual({ type: 'integer', minimum: 1, maximum: 1000, default: 100 });
  });
});

describe('when a body matches the contract', () => {
  it.each([
    ['an allow with its signed record', 'POST', '/actions', 200, ALLOW_BODY],
    ['a deny with its signed record', 'POST', '/actions', 403, DENY_BODY],
    ['a deny without a record (SigV4 failure)', 'POST', '/actions', 403, FORBIDDEN_BODY],
    ['an error body', 'GET', '/audit', 403, FORBIDDEN_BODY],
    ['a 5xx with a trace id', 'POST', '/actions', 503, SERVER_ERROR_BODY],
    ['an audit page', 'GET', '/audit?after=0&limit=4', 200, AUDIT_PAGE],
    ['the last audit page', 'GET', '/audit?after=4', 200, { records: [], next: null }],
    [
      'an audit page with the request data kept for replay',
      'GET',
      '/audit?requests=true',
      200,
      {
        records: [ALLOW_RECORD],
        next: null,
        requests: [
          {
            id: ALLOW_RECORD.id,
            record_hash: ALLOW_RECORD.current_hash,
            params: { amount: 5 },
            context: {},
            agent_attributes: { team: 'billing' },
            expires_at: 1_800_000_000_000,
          },
        ],
      },
    ],
    ['an outcome answer', 'POST', '/actions/main-2/outcome', 200, { ok: true, audit: OUTCOME_RECORD }],
    ['a checkpoint', 'GET', '/audit/checkpoint', 200, LOG_CHECKPOINT],
    ['earlier checkpoints', 'GET', '/audit/checkpoints?after=0', 200, { checkpoints: [CHECKPOINT] }],
    [
      'the keys',
      'GET',
      '/keys',
      200,
      {
        keys: [
          {
            keyId: KEY_RECORD.signing_key_id,
            role: 'root',
            publicKeyPem:
              '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEQP93ojNI0ySelWaD4R72FCjMaqUt\nrlecQMshLjTa0Vgx6R69V3oL1DxV0WKAfOZvkrRrSPEFfF2gfqEz8W2oBw==\n-----END PUBLIC KEY-----\n',
          },
          {
            keyId: KEY_RECORD.certified_key_id,
            role: 'session',
            publicKeyPem: KEY_RECORD.certified_public_key_pem,
            notBefore: KEY_RECORD.not_before,
            notAfter: KEY_RECORD.not_after,
          },
        ],
      },
    ],
    [
      'a locally minted agent',
      'POST',
      '/agents',
      201,
      {
        agentId: 'demo',
        principalArn: 'arn:aws:iam::000000000000:user/zt-agent-demo',
        attributes: { team: 'platform', tier: 2, tags: ['ci'] },
        status: 'active',
        createdAt: '2026-11-26T08:20:20.000Z',
        credentials: {
          accessKeyId: 'AKIAZTLOCAL0000DEMO',
          secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY',
          profile: 'zt-agent-demo',
        },
      },
    ],
    [
      'a Cedar diagnostic',
      'PUT',
      '/policies/allow-hello',
      400,
      {
        ok: false,
        error: {
          code: 'VALIDATION_FAILED',
          message: 'policy `allow-hello` is not valid Cedar at line 1, column 8: unexpected token',
          details: { diagnostics: [{ message: 'unexpected token', line: 1, column: 8 }] },
        },
      },
    ],
    ['a deleted policy', 'DELETE', '/policies/allow-hello', 200, { policyId: 'allow-hello', deleted: true }],
    [
      'an unknown route',
      'GET',
      '/nope',
      404,
      { ok: false, error: { code: 'NOT_FOUND', message: 'no route' } },
    ],
    [
      'a wrong method',
      'PATCH',
      '/agents',
      405,
      { ok: false, error: { code: 'METHOD_NOT_ALLOWED', message: 'x' } },
    ],
    ['the health answer', 'GET', '/health', 200, { ok: true }],
  ])('accepts %s', (_name, method, path, status, body) => {
    expect(errorsOf(validateResponse(method, path, status, body))).toEqual([]);
  });

  it('accepts the documented request bodies', () => {
    expect(
      validateRequestBody('POST', '/actions', {
        actor: 'demo',
        action: 'hello-world.say_hello',
        resource: 'hello',
        context: { ticket: 'OPS-1' },
        params: { image: 'alpine:3.20', command: ['echo', 'hello'] },
        request_id: 'req-0001',
      }),
    ).toEqual({ ok: true });
    expect(validateRequestBody('POST', '/actions/main-2/outcome', { status: 'started' })).toEqual({
      ok: true,
    });
    expect(
      validateRequestBody('POST', '/actions/main-2/outcome', {
        status: 'succeeded',
        exit_code: 0,
        output_sha256: ALLOW_RECORD.current_hash,
      }),
    ).toEqual({ ok: true });
    expect(
      validateRequestBody('POST', '/policies/allow', { action: 'hello-world.say_hello', agentId: 'demo' }),
    ).toEqual({ ok: true });
    expect(validateRequestBody('GET', '/agents/demo', undefined)).toEqual({ ok: true });
  });
});

describe('when a body breaks the contract', () => {
  const withRecord = (change: (record: JsonObject) => void): JsonObject => {
    const body = structuredClone(ALLOW_BODY) as JsonObject;
    change(body['audit'] as JsonObject);
    return body;
  };

  it.each([
    ['an extra record field', withRecord((r) => Object.assign(r, { approved_by: 'me' }))],
    ['a seq that is a string', withRecord((r) => Object.assign(r, { seq: '2' }))],
    ['a seq that is a float', withRecord((r) => Object.assign(r, { seq: 2.5 }))],
    ['a seq of 0', withRecord((r) => Object.assign(r, { seq: 0 }))],
    ['a missing current_hash', withRecord((r) => delete r['current_hash'])],
    [
      'an upper-case hash',
      withRecord((r) => Object.assign(r, { previous_hash: ALLOW_RECORD.previous_hash.toUpperCase() })),
    ],
    [
      'a short hash',
      withRecord((r) => Object.assign(r, { params_sha256: ALLOW_RECORD.params_sha256.slice(1) })),
    ],
    [
      'a key id without its prefix',
      withRecord((r) => Object.assign(r, { signing_key_id: ALLOW_RECORD.current_hash })),
    ],
    ['a wrong schema name', withRecord((r) => Object.assign(r, { schema: 'zt.audit.v2' }))],
    ['a record of another kind', withRecord((r) => Object.assign(r, { kind: 'outcome' }))],
    ['a record that says deny', withRecord((r) => Object.assign(r, { decision: 'deny' }))],
    [
      'a signature with another algorithm',
      withRecord((r) =>
        Object.assign(r, { kms_signature: { ...ALLOW_RECORD.kms_signature, algorithm: 'RSA' } }),
      ),
    ],
    ['an extra top-level field', { ...ALLOW_BODY, trace: 'x' }],
    ['ok: false on an allow', { ...ALLOW_BODY, ok: false }],
    ['a deny body', DENY_BODY],
    ['no audit record', { ...ALLOW_BODY, audit: undefined }],
  ])('refuses an allow with %s', (_name, body) => {
    expect(errorsOf(validateResponse('POST', '/actions', 200, body)).length).toBeGreaterThan(0);
  });

  it.each([
    ['an allow', ALLOW_BODY],
    [
      'a deny whose record is unsigned',
      { ...DENY_BODY, audit: { ...DENY_RECORD, kms_signature: undefined } },
    ],
    ['an error with an extra field', { ...FORBIDDEN_BODY, decision: 'deny' }],
    ['a lower-case error code', { ok: false, error: { code: 'forbidden', message: 'x' } }],
    ['an error without a message', { ok: false, error: { code: 'FORBIDDEN' } }],
    ['ok: true on an error', { ok: true, error: FORBIDDEN_BODY.error }],
  ])('refuses a 403 that is %s', (_name, body) => {
    expect(errorsOf(validateResponse('POST', '/actions', 403, body)).length).toBeGreaterThan(0);
  });

  it('refuses an audit page with a broken record, a float or a missing next', () => {
    const broken = { ...OUTCOME_RECORD, exit_code: 'zero' };
    expect(validateResponse('GET', '/audit', 200, { records: [broken], next: null }).ok).toBe(false);
    expect(validateResponse('GET', '/audit', 200, { records: [], next: 1.5 }).ok).toBe(false);
    expect(validateResponse('GET', '/audit', 200, { records: [] }).ok).toBe(false);
    expect(
      validateResponse('GET', '/audit', 200, { records: [{ ...KEY_RECORD, kind: 'anchor' }], next: null }).ok,
    ).toBe(false);
  });

  it('refuses a 5xx without a trace id', () => {
    expect(validateResponse('GET', '/keys', 500, FORBIDDEN_BODY).ok).toBe(false);
  });

  it('refuses a checkpoint whose note is not a signed note', () => {
    expect(
      validateResponse('GET', '/audit/checkpoint', 200, { ...LOG_CHECKPOINT, note: 'zt-infra/main\n4\n' }).ok,
    ).toBe(false);
    expect(validateResponse('GET', '/audit/checkpoint', 200, { ...LOG_CHECKPOINT, root: 'abc' }).ok).toBe(
      false,
    );
    expect(validateResponse('GET', '/audit/checkpoint', 200, CHECKPOINT).ok).toBe(false);
  });

  it('refuses a status the operation does not document', () => {
    const result = validateResponse('GET', '/health', 403, FORBIDDEN_BODY);
    expect(result.ok).toBe(false);
    expect(errorsOf(result).join('\n')).toContain('status 403 is not documented');
    expect(validateResponse('POST', '/actions', 418, FORBIDDEN_BODY).ok).toBe(false);
  });

  it('refuses answers on routes the document does not have', () => {
    expect(validateResponse('GET', '/nope', 200, { ok: true }).ok).toBe(false);
    expect(validateResponse('PATCH', '/agents', 200, { agents: [] }).ok).toBe(false);
  });

  it('refuses request bodies with unknown fields, wrong types or missing fields', () => {
    expect(
      validateRequestBody('POST', '/actions', { actor: 'demo', action: 'x', principal: 'admin' }).ok,
    ).toBe(false);
    expect(validateRequestBody('POST', '/actions', { actor: 'demo' }).ok).toBe(false);
    expect(validateRequestBody('POST', '/agents', { agentId: 'demo', attributes: { tier: 1.5 } }).ok).toBe(
      false,
    );
    expect(validateRequestBody('PUT', '/policies/p1', { cedar: 42 }).ok).toBe(false);
    expect(
      validateRequestBody('POST', '/actions/main-2/outcome', { status: 'started', exit_code: 0 }).ok,
    ).toBe(false);
    expect(validateRequestBody('POST', '/actions/main-2/outcome', { status: 'done' }).ok).toBe(false);
    expect(validateRequestBody('POST', '/actions', undefined).ok).toBe(false);
    expect(validateRequestBody('GET', '/keys', { any: 1 }).ok).toBe(false);
  });
});

describe('when a concrete path is matched', () => {
  it('prefers the literal /policies/allow for POST and the template for other methods', () => {
    const created = {
      policyId: 'allow-hello',
      cedar: 'permit(principal, action, resource);',
      sha256: ALLOW_RECORD.current_hash,
    };
    expect(validateResponse('POST', '/policies/allow', 201, created)).toEqual({ ok: true });
    // PUT /policies/allow is the template (policy id `allow`), which answers 200, not 201.
    expect(validateResponse('PUT', '/policies/allow', 201, created).ok).toBe(false);
  });

  it('lists each documented operation once', () => {
    const operations = documentedOperations();
    expect(new Set(operations.map((o) => `${o.method} ${o.pathTemplate}`)).size).toBe(operations.length);
    expect(operations.find((o) => o.pathTemplate === '/actions')?.statuses).toEqual([
      200, 400, 403, 404, 409, 413, 500,
    ]);
  });
});
