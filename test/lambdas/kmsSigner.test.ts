import { createHash, createPublicKey } from 'node:crypto';
import { GetPublicKeyCommand } from '@aws-sdk/client-kms';
import { beforeEach, describe, expect, it } from 'vitest';
import { AuditReader } from '../../core/gateway/AuditReader.js';
import {
  computeRecordHash,
  keyIdOf,
  recordSigningPayload,
  verifySignature,
} from '../../core/keys/signing.js';
import { verifyCheckpoint } from '../../core/log/checkpoint.js';
import type { AuditRecord, KeyRecord } from '../../core/model/records.js';
import { InMemoryKeyValueStore } from '../../core/ports/InMemoryKeyValueStore.js';
import type { Clock } from '../../core/ports/ports.js';
import { KmsSigner } from '../../lambdas/adapters/KmsSigner.js';
import type { ApiGatewayProxyEvent } from '../../lambdas/apigw.js';
import { createApiHandler } from '../../lambdas/http.js';
import { wireGateway } from '../../lambdas/wiring.js';
import { type FakeKms, fakeKms } from './fakeKms.js';

const ACCOUNT = '111122223333';
const ADMIN_ROLE = `arn:aws:iam::${ACCOUNT}:role/ZtInfra-AdminRole`;
const AGENT_ROLE = `arn:aws:iam::${ACCOUNT}:role/ZtInfra-Agentdeploybot`;
let seq = 0;

/** An API Gateway REST proxy event as a SigV4-signed assumed-role call produces it. */
function event(
  role: string,
  method: string,
  path: string,
  resource: string,
  body?: unknown,
): ApiGatewayProxyEvent {
  const requestId = `req-${++seq}`;
  const roleName = role.split('/').pop() as string;
  return {
    resource,
    path,
    httpMethod: method,
    headers: { 'content-type': 'application/json', host: 'abc123.execute-api.us-east-1.amazonaws.com' },
    queryStringParameters: null,
    pathParameters: null,
    requestContext: {
      requestId,
      stage: 'v1',
      httpMethod: method,
      path: `/v1${path}`,
      resourcePath: resource,
      accountId: ACCOUNT,
      apiId: 'abc123',
      requestTimeEpoch: 1_764_000_000_000,
      identity: {
        userArn: `arn:aws:sts::${ACCOUNT}:assumed-role/${roleName}/session-${requestId}`,
        accountId: ACCOUNT,
        caller: `AROAEXAMPLE${seq}:session-${requestId}`,
        accessKey: 'ASIAEXAMPLEEXAMPLE',
        sourceIp: '203.0.113.10',
        userAgent: 'zt-test',
      },
    },
    body: body === undefined ? null : JSON.stringify(body),
    isBase64Encoded: false,
  };
}

const clock: Clock = { now: () => new Date() };

async function gatewayOver(store: InMemoryKeyValueStore, kms: FakeKms) {
  const rootSigner = await KmsSigner.create(kms.client, kms.keyArn);
  const parts = wireGateway({
    store,
    rootSigner,
    clock,
    gatewayPrincipal: `arn:aws:iam::${ACCOUNT}:role/ZtInfra-DecisionsFunctionRole`,
    rootArn: kms.keyArn,
  });
  const handler = createApiHandler({
    gateway: parts.gateway,
    audit: new AuditReader({ store, checkpoints: parts.checkpointer }),
    adminPrincipalArns: [ADMIN_ROLE],
  });
  const call = async (role: string, method: string, path: string, resource: string, body?: unknown) => {
    const res = await handler(event(role, method, path, resource, body));
    return { status: res.statusCode, body: JSON.parse(res.body) };
  };
  return { parts, call, rootSigner };
}

/** Every record of every lane (each function instance writes its own lane), lane by lane. */
async function chain(store: InMemoryKeyValueStore): Promise<AuditRecord[]> {
  const lanes = [
    'main',
    ...(await store.query('lanes', { limit: 1000 })).map((i) => i.sk).filter((l) => l !== 'main'),
  ];
  const records: AuditRecord[] = [];
  for (const lane of lanes) {
    const items = await store.query(`chain#${lane}`, { limit: 1000 });
    records.push(...items.map((i) => JSON.parse(i.data) as AuditRecord));
  }
  return records;
}

async function seed(call: Awaited<ReturnType<typeof gatewayOver>>['call']) {
  expect(
    (
      await call(ADMIN_ROLE, 'POST', '/agents', '/agents', {
        agentId: 'deploy-bot',
        principalArn: AGENT_ROLE,
      })
    ).status,
  ).toBe(201);
  expect(
    (
      await call(ADMIN_ROLE, 'POST', '/policies/allow', '/policies/allow', {
        action: 'ci.deploy',
        agentId: 'deploy-bot',
      })
    ).status,
  ).toBe(201);
}

describe('when the root key lives in KMS (mocked, backed by a real P-256 key)', () => {
  let kms: FakeKms;
  beforeEach(() => {
    kms = fakeKms();
  });

  it('reads the public key once and signs SHA-256 digests that verify with node:crypto', async () => {
    const signer = await KmsSigner.create(kms.client, kms.keyArn);
    expect(signer.keyId).toBe(keyIdOf(kms.publicKey));
    expect(signer.publicKeyPem).toBe(kms.publicKeyPem);
    const message = Buffer.from('{"canonical":"record"}');
    const signature = await signer.sign(message);
    expect(verifySignature(kms.publicKey, message, signature)).toBe(true);
    expect(verifySignature(kms.publicKey, Buffer.from('something else'), signature)).toBe(false);
    expect(kms.signCalls).toHaveLength(1);
    expect(kms.signCalls[0]).toMatchObject({
      KeyId: kms.keyArn,
      MessageType: 'DIGEST',
      SigningAlgorithm: 'ECDSA_SHA_256',
    });
    expect(Buffer.from(kms.signCalls[0]?.Message as Uint8Array)).toEqual(
      createHash('sha256').update(message).digest(),
    );
    expect(kms.mock.commandCalls(GetPublicKeyCommand)).toHaveLength(1);
  });

  it('refuses a key that is not ECC_NIST_P256 SIGN_VERIFY', async () => {
    kms.mock
      .on(GetPublicKeyCommand)
      .resolves({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY', PublicKey: new Uint8Array(1) });
    await expect(KmsSigner.create(kms.client, kms.keyArn)).rejects.toThrow(
      /must be an ECC_NIST_P256 SIGN_VERIFY key/,
    );
  });

  it('certifies a session key with a root-signed key record, and decisions verify through it', async () => {
    const store = new InMemoryKeyValueStore();
    const { call } = await gatewayOver(store, kms);
    await seed(call);
    const answer = await call(AGENT_ROLE, 'POST', '/actions', '/actions', {
      actor: 'deploy-bot',
      action: 'ci.deploy',
    });
    expect(answer.status).toBe(200);
    expect(answer.body.decision).toBe('allow');

    const records = await chain(store);
    const keyRecord = records[0] as KeyRecord;
    expect(keyRecord.kind).toBe('key');
    // the certificate: signed by the KMS root, over the record's canonical payload
    expect(keyRecord.signing_key_id).toBe(keyIdOf(kms.publicKey));
    expect(computeRecordHash(keyRecord)).toBe(keyRecord.current_hash);
    expect(
      verifySignature(kms.publicKey, recordSigningPayload(keyRecord), keyRecord.kms_signature.signature),
    ).toBe(true);
    // every later record is signed by the certified session key, never by KMS
    const session = createPublicKey(keyRecord.certified_public_key_pem);
    for (const record of records.slice(1)) {
      expect(record.signing_key_id).toBe(keyRecord.certified_key_id);
      expect(verifySignature(session, recordSigningPayload(record), record.kms_signature.signature)).toBe(
        true,
      );
    }
    const decision = answer.body.audit as AuditRecord;
    expect(verifySignature(session, recordSigningPayload(decision), decision.kms_signature.signature)).toBe(
      true,
    );
    // one KMS Sign for the certificate, none per record
    expect(kms.signCalls).toHaveLength(1);
  });

  it('signs checkpoints with KMS that verify against the root public key', async () => {
    const store = new InMemoryKeyValueStore();
    const { call } = await gatewayOver(store, kms);
    await seed(call);
    const answer = await call(ADMIN_ROLE, 'GET', '/audit/checkpoint', '/audit/checkpoint');
    expect(answer.status).toBe(200);
    expect(answer.body.size).toBe((await chain(store)).length);
    expect(verifyCheckpoint(answer.body, [kms.publicKeyPem])).toMatchObject({ ok: true });
    const stranger = fakeKms();
    expect(verifyCheckpoint(answer.body, [stranger.publicKeyPem])).toMatchObject({ ok: false });
  });

  for (const failure of ['ThrottlingException', 'AccessDeniedException'] as const) {
    it(`answers a 5xx deny with no record when KMS Sign fails with ${failure}`, async () => {
      const store = new InMemoryKeyValueStore();
      await seed((await gatewayOver(store, kms)).call);
      const before = await chain(store);

      // a new function instance: it must certify its own session key before its first decision
      const fresh = await gatewayOver(store, kms);
      kms.fail(failure);
      const answer = await fresh.call(AGENT_ROLE, 'POST', '/actions', '/actions', {
        actor: 'deploy-bot',
        action: 'ci.deploy',
        request_id: 'r-1',
      });
      expect(answer.status).toBeGreaterThanOrEqual(500);
      expect(answer.body).toMatchObject({ ok: false, error: { code: 'SERVICE_UNAVAILABLE' } });
      expect(answer.body.audit).toBeUndefined();
      expect(JSON.stringify(answer.body)).not.toContain(failure);
      expect(await chain(store)).toEqual(before);

      // checkpoints fail closed the same way
      const cp = await fresh.call(ADMIN_ROLE, 'GET', '/audit/checkpoint', '/audit/checkpoint');
      expect(cp.status).toBeGreaterThanOrEqual(500);

      // once KMS answers again, the same request is decided and recorded
      kms.heal();
      const retried = await fresh.call(AGENT_ROLE, 'POST', '/actions', '/actions', {
        actor: 'deploy-bot',
        action: 'ci.deploy',
        request_id: 'r-1',
      });
      expect(retried.status).toBe(200);
      expect((await chain(store)).length).toBe(before.length + 2); // the new certificate, then the decision
    });
  }
});
