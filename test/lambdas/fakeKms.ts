import { createPublicKey, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import {
  GetPublicKeyCommand,
  type GetPublicKeyCommandOutput,
  KMSClient,
  SignCommand,
  type SignCommandInput,
} from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';

/**
 * A `KMSClient` mocked with `aws-sdk-client-mock` whose `GetPublicKey` and `Sign` are backed by a real P-256
 * key made here, so every signature the gateway gets from "KMS" verifies with node:crypto for real.
 *
 * KMS `Sign` with `MessageType: DIGEST` signs the 32 bytes it is given as the hash (no second hashing).
 * node:crypto always hashes what it signs, so that one step is ECDSA over P-256 done here with BigInt:
 * slow (tens of ms a signature) and not constant time, which is fine for a test double and nothing else.
 */

const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const G: Point = [
  0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
  0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
];
type Point = [bigint, bigint] | null;

const mod = (a: bigint, m: bigint) => ((a % m) + m) % m;
function inv(a: bigint, m: bigint): bigint {
  let [r0, r1, s0, s1] = [mod(a, m), m, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return mod(s0, m);
}
function add(p: Point, q: Point): Point {
  if (p === null) return q;
  if (q === null) return p;
  if (p[0] === q[0] && mod(p[1] + q[1], P) === 0n) return null;
  const l =
    p[0] === q[0] && p[1] === q[1]
      ? mod(3n * p[0] * p[0] - 3n, P) * inv(2n * p[1], P)
      : mod(q[1] - p[1], P) * inv(q[0] - p[0], P);
  const x = mod(l * l - p[0] - q[0], P);
  return [x, mod(l * (p[0] - x) - p[1], P)];
}
function mul(k: bigint, p: Point): Point {
  let r: Point = null;
  let addend = p;
  for (let e = k; e > 0n; e >>= 1n) {
    if (e & 1n) r = add(r, addend);
    addend = add(addend, addend);
  }
  return r;
}
const toBig = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`);
function derInt(v: bigint): Buffer {
  let hex = v.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if ((bytes[0] as number) & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
}

/** ECDSA P-256 over a 32-byte digest, DER encoded, exactly what KMS returns for `MessageType: DIGEST`. */
export function signDigest(privateKey: KeyObject, digest: Uint8Array): Buffer {
  if (digest.length !== 32) throw new Error(`digest must be 32 bytes, got ${digest.length}`);
  const d = toBig(Buffer.from(privateKey.export({ format: 'jwk' }).d as string, 'base64url'));
  const z = toBig(digest);
  for (;;) {
    const k = mod(toBig(randomBytes(40)), N - 1n) + 1n;
    const r = mod((mul(k, G) as [bigint, bigint])[0], N);
    if (r === 0n) continue;
    let s = mod(inv(k, N) * (z + r * d), N);
    if (s === 0n) continue;
    if (s > N / 2n) s = N - s; // low-s, as KMS does
    const body = Buffer.concat([derInt(r), derInt(s)]);
    return Buffer.concat([Buffer.from([0x30, body.length]), body]);
  }
}

export interface FakeKms {
  client: KMSClient;
  mock: ReturnType<typeof mockClient>;
  keyArn: string;
  publicKey: KeyObject;
  publicKeyPem: string;
  /** Every `Sign` input received, in order. */
  signCalls: SignCommandInput[];
  /** Makes `Sign` fail with an AWS-shaped error until `heal()`. */
  fail(name: 'ThrottlingException' | 'AccessDeniedException' | 'KMSInternalException'): void;
  heal(): void;
}

export function fakeKms(
  keyArn = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const client = new KMSClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
  });
  const mock = mockClient(client);
  const signCalls: SignCommandInput[] = [];
  let failure: string | null = null;
  mock.on(GetPublicKeyCommand).callsFake(
    async (input): Promise<Partial<GetPublicKeyCommandOutput>> => ({
      KeyId: keyArn,
      KeySpec: 'ECC_NIST_P256',
      KeyUsage: 'SIGN_VERIFY',
      SigningAlgorithms: ['ECDSA_SHA_256'],
      PublicKey: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })),
      ...(input.KeyId === keyArn ? {} : { KeyId: String(input.KeyId) }),
    }),
  );
  mock.on(SignCommand).callsFake(async (input: SignCommandInput) => {
    signCalls.push(input);
    if (failure) {
      throw Object.assign(new Error(`${failure}: simulated`), {
        name: failure,
        $fault: failure === 'KMSInternalException' ? 'server' : 'client',
        $metadata: { httpStatusCode: failure === 'AccessDeniedException' ? 400 : 400 },
      });
    }
    if (input.KeyId !== keyArn)
      throw Object.assign(new Error('NotFoundException'), { name: 'NotFoundException' });
    if (input.MessageType !== 'DIGEST' || input.SigningAlgorithm !== 'ECDSA_SHA_256') {
      throw Object.assign(new Error('unexpected Sign parameters'), { name: 'ValidationException' });
    }
    return {
      KeyId: keyArn,
      SigningAlgorithm: 'ECDSA_SHA_256',
      Signature: new Uint8Array(signDigest(privateKey, input.Message as Uint8Array)),
    };
  });
  const fake: FakeKms = {
    client,
    mock,
    keyArn,
    publicKey,
    publicKeyPem: createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString(),
    signCalls,
    fail: (name) => {
      failure = name;
    },
    heal: () => {
      failure = null;
    },
  };
  return fake;
}
