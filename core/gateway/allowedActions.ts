import { ValidationError } from '../errors/errors.js';
import { canonicalize, canonicalSha256 } from '../model/canonical.js';
import { NONCE_PATTERN } from '../model/recordFormat.js';
import type { SIGNATURE_ALGORITHM } from '../model/records.js';
import { ACTION_PATTERN, ID_PATTERN, readObject, requireString } from '../model/validate.js';

/**
 * `POST /actions/allowed`, "what may I do": the subset of the action ids an agent names that some
 * request of its own could be allowed for. Read-only: it decides nothing and records nothing. The answer
 * is signed (by the gateway's session key, certified by the root in the chain, or by the root), so a
 * client that pins the root key believes it like a decision record, and bound to the request by the
 * client's nonce and the digest of the names asked.
 */

/** `schema` of a signed answer: not an audit record, and nothing that verifies as one. */
export const ALLOWED_ANSWER_SCHEMA = 'zt.allowed.v1';

/** Most action ids one query may name. */
export const MAX_ALLOWED_QUERY_ACTIONS = 256;

/** `POST /actions/allowed` body. */
export interface AllowedActionsRequest {
  /** The agent asking; must be the agent bound to the authenticated principal. */
  actor: string;
  /** Action ids, unique, 1 to {@link MAX_ALLOWED_QUERY_ACTIONS}. */
  actions: string[];
  /** A fresh random value the answer must carry (16-128 of `A-Za-z0-9_-`). */
  nonce: string;
}

/** The signed answer, as the gateway sends it in `answer`. */
export interface AllowedActionsAnswer {
  schema: typeof ALLOWED_ANSWER_SCHEMA;
  actor: string;
  principal_arn: string;
  nonce: string;
  /** SHA-256 (hex) of the RFC 8785 canonical JSON of the `actions` array asked, in the order asked. */
  actions_sha256: string;
  /** The actions asked that may be allowed, in the order asked. */
  allowed: string[];
  /** The configuration version the answer was computed at. */
  config_version: number;
  timestamp: string;
  signing_key_id: string;
  signature: { algorithm: typeof SIGNATURE_ALGORITHM; key_id: string; signature: string };
}

/** Parses a `POST /actions/allowed` body strictly (unknown fields, duplicates and bad names are 400s). */
export function parseAllowedActionsRequest(body: unknown): AllowedActionsRequest {
  const o = readObject(body, ['actor', 'actions', 'nonce']);
  const actor = requireString(o, 'actor', {
    pattern: ID_PATTERN,
    patternHint: 'an agent id (letters, digits, . _ -)',
  });
  const nonce = requireString(o, 'nonce', {
    pattern: NONCE_PATTERN,
    patternHint: '16-128 letters, digits, `-` or `_`',
  });
  const actions = o['actions'];
  if (!Array.isArray(actions) || actions.length === 0 || actions.length > MAX_ALLOWED_QUERY_ACTIONS) {
    throw new ValidationError(
      `\`actions\` must be an array of 1 to ${MAX_ALLOWED_QUERY_ACTIONS} action ids, got ${Array.isArray(actions) ? `${actions.length} items` : describe(actions)}`,
      { field: 'actions' },
    );
  }
  const seen = new Set<string>();
  actions.forEach((action, i) => {
    if (typeof action !== 'string' || !ACTION_PATTERN.test(action)) {
      throw new ValidationError(
        `\`actions[${i}]\` must be an action id like \`mcp.server.tool\` (1-200 letters, digits, \`.\`, \`_\`, \`:\`, \`/\` or \`-\`, starting with a letter or digit), got ${describe(action)}`,
        { field: `actions[${i}]` },
      );
    }
    if (seen.has(action)) {
      throw new ValidationError(`\`actions[${i}]\` repeats \`${action}\`: name each action once`, {
        field: `actions[${i}]`,
      });
    }
    seen.add(action);
  });
  return { actor, actions: actions as string[], nonce };
}

/** The digest binding an answer to the names asked: SHA-256 of the canonical JSON of the array. */
export function actionsDigest(actions: readonly string[]): string {
  return canonicalSha256(actions);
}

/** The exact text an answer's signature covers: its RFC 8785 canonical JSON without `signature`. */
export function allowedAnswerPayload(answer: Omit<AllowedActionsAnswer, 'signature'>): string {
  const { signature: _s, ...rest } = answer as AllowedActionsAnswer;
  return canonicalize(rest);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value.length > 40 ? 'a long string' : `\`${value}\``;
  return `a ${typeof value}`;
}
