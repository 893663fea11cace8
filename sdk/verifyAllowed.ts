import {
  ALLOWED_ANSWER_SCHEMA,
  type AllowedActionsAnswer,
  actionsDigest,
  allowedAnswerPayload,
} from '../core/gateway/index.js';
import { verifySignature } from '../core/keys/index.js';
import { ACTION_PATTERN, ID_PATTERN, NONCE_PATTERN, SIGNATURE_ALGORITHM } from '../core/model/index.js';
import {
  DEFAULT_MAX_RECORD_AGE_MS,
  type TrustedKeySet,
  type VerificationCode,
  type VerifyOptions,
} from './verifyDecision.js';

/**
 * Verification of a `POST /actions/allowed` answer, pure (no I/O). It is believed only after these
 * steps, in this order; the first failure wins:
 *
 *   1. the body is a JSON object carrying `answer` (`MISSING_RECORD`)
 *   2. `answer` has exactly the fields of `zt.allowed.v1`, each of its type, and names one signing key
 *      (`signing_key_id` = `signature.key_id`) (`RECORD_INVALID`)
 *   3. it answers this request: `actor`, `nonce`, the digest of the `actions` asked, and `allowed` is a
 *      subset of them without repeats (`RECORD_MISMATCH`)
 *   4. its `timestamp` is within `maxAgeMs` of `now` (`RECORD_STALE`)
 *   5. its signing key is a trusted root, or a session key certified by one for a window covering the
 *      `timestamp` (`UNTRUSTED_KEY`), the one key-trust rule of core/keys/keyTrust.ts
 *   6. the ECDSA P-256 signature over its canonical JSON without `signature` verifies (`SIGNATURE_INVALID`)
 */

/** What was asked, to bind the answer to. */
export interface AllowedExpectation {
  actor: string;
  actions: readonly string[];
  nonce: string;
}

export type AllowedVerdict =
  | { ok: true; allowed: string[]; answer: AllowedActionsAnswer }
  | { ok: false; code: VerificationCode; message: string; unknownKeyId?: string };

const FIELDS = [
  'schema',
  'actor',
  'principal_arn',
  'nonce',
  'actions_sha256',
  'allowed',
  'config_version',
  'timestamp',
  'signing_key_id',
  'signature',
] as const;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const KEY_ID = /^sha256:[0-9a-f]{64}$/;
const HEX64 = /^[0-9a-f]{64}$/;

/** Verifies a `POST /actions/allowed` answer body (see the module doc). Never throws. */
export function verifyAllowedAnswer(
  body: unknown,
  expected: AllowedExpectation,
  trust: TrustedKeySet | null,
  options: VerifyOptions = {},
): AllowedVerdict {
  const fail = (code: VerificationCode, message: string, extra: { unknownKeyId?: string } = {}) =>
    ({ ok: false, code, message, ...extra }) as const;
  if (!isObject(body) || !isObject(body['answer'])) {
    return fail('MISSING_RECORD', 'the answer carries no signed `answer` object');
  }
  const a = body['answer'];
  const shape = shapeError(a);
  if (shape !== null) return fail('RECORD_INVALID', `the signed answer is not valid: ${shape}`);
  const answer = a as unknown as AllowedActionsAnswer;

  if (answer.actor !== expected.actor) {
    return fail('RECORD_MISMATCH', `the answer is for \`${answer.actor}\`, expected \`${expected.actor}\``);
  }
  if (answer.nonce !== expected.nonce) {
    return fail(
      'RECORD_MISMATCH',
      'the answer carries another nonce than this request sent: it answers another request',
    );
  }
  if (answer.actions_sha256 !== actionsDigest(expected.actions)) {
    return fail('RECORD_MISMATCH', 'the answer is for another list of actions than the one asked');
  }
  const asked = new Set(expected.actions);
  const seen = new Set<string>();
  for (const action of answer.allowed) {
    if (!asked.has(action) || seen.has(action)) {
      return fail(
        'RECORD_MISMATCH',
        `the answer lists \`${action}\` ${seen.has(action) ? 'twice' : 'which was not asked'}`,
      );
    }
    seen.add(action);
  }

  const maxAge = options.maxAgeMs ?? DEFAULT_MAX_RECORD_AGE_MS;
  const now = (options.now ?? new Date()).getTime();
  const at = Date.parse(answer.timestamp);
  if (maxAge !== Number.POSITIVE_INFINITY && Math.abs(now - at) > maxAge) {
    return fail(
      'RECORD_STALE',
      `the answer was signed at ${answer.timestamp}, more than ${maxAge} ms from now (${new Date(now).toISOString()})`,
    );
  }

  if (!options.skipSignature) {
    if (trust === null) return fail('UNTRUSTED_KEY', 'no trusted keys to verify against');
    const resolved = trust.resolve(answer.signing_key_id, new Date(at));
    if (!resolved.ok) {
      return fail(
        'UNTRUSTED_KEY',
        resolved.message,
        resolved.unknown ? { unknownKeyId: answer.signing_key_id } : {},
      );
    }
    let payload: string;
    try {
      payload = allowedAnswerPayload(answer);
    } catch {
      return fail('RECORD_INVALID', 'the signed answer cannot be canonicalized');
    }
    if (!verifySignature(resolved.key, payload, answer.signature.signature)) {
      return fail(
        'SIGNATURE_INVALID',
        `the signature of the answer does not verify against \`${answer.signing_key_id}\``,
      );
    }
  }
  return { ok: true, allowed: [...answer.allowed], answer };
}

/** Why `a` is not a `zt.allowed.v1` answer, or null. */
function shapeError(a: Record<string, unknown>): string | null {
  const extra = Object.keys(a).filter((k) => !(FIELDS as readonly string[]).includes(k));
  if (extra.length > 0) return `unknown field \`${extra[0]}\``;
  const missing = FIELDS.find((k) => a[k] === undefined);
  if (missing !== undefined) return `\`${missing}\` is missing`;
  if (a['schema'] !== ALLOWED_ANSWER_SCHEMA) return `\`schema\` must be \`${ALLOWED_ANSWER_SCHEMA}\``;
  const strings: Array<[string, RegExp]> = [
    ['actor', ID_PATTERN],
    ['nonce', NONCE_PATTERN],
    ['actions_sha256', HEX64],
    ['timestamp', TIMESTAMP],
    ['signing_key_id', KEY_ID],
  ];
  for (const [field, pattern] of strings) {
    const value = a[field];
    if (typeof value !== 'string' || !pattern.test(value)) return `\`${field}\` is malformed`;
  }
  if (typeof a['principal_arn'] !== 'string') return '`principal_arn` must be a string';
  if (Number.isNaN(Date.parse(a['timestamp'] as string))) return '`timestamp` is not a date';
  const allowed = a['allowed'];
  if (!Array.isArray(allowed) || !allowed.every((x) => typeof x === 'string' && ACTION_PATTERN.test(x))) {
    return '`allowed` must be an array of action ids';
  }
  const version = a['config_version'];
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) {
    return '`config_version` must be an integer >= 0';
  }
  const sig = a['signature'];
  if (
    !isObject(sig) ||
    Object.keys(sig).length !== 3 ||
    sig['algorithm'] !== SIGNATURE_ALGORITHM ||
    typeof sig['signature'] !== 'string' ||
    sig['key_id'] !== a['signing_key_id']
  ) {
    return '`signature` must be {algorithm: ECDSA_SHA_256, key_id: the `signing_key_id`, signature}';
  }
  return null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
