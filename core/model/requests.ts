import { ValidationError } from '../errors/errors.js';
import { sha256Hex } from './canonical.js';
import { type Declarations, parseDeclarations } from './declarations.js';
import { normalizePrincipalArn } from './principalArn.js';
import { NONCE_PATTERN } from './recordFormat.js';
import type { OutcomeStatus } from './records.js';
import {
  ACTION_PATTERN,
  ID_PATTERN,
  type JsonObject,
  REQUEST_ID_PATTERN,
  readInteger,
  readObject,
  readPlainObject,
  readString,
  requireString,
  SHA256_PATTERN,
} from './validate.js';

/** `POST /actions` */
export interface DecisionRequest {
  actor: string;
  action: string;
  resource: string;
  context: JsonObject;
  params: unknown;
  request_id?: string;
  /**
   * The claim of an approved request: the id of its `approval_required` decision. The rest of the request
   * must be that request's (actor, action, resource, context, params).
   */
  approval_id?: string;
}

/** A record id (`<lane>-<seq>`), as an approval id is. */
const RECORD_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}-[1-9][0-9]{0,15}$/;

export function parseDecisionRequest(body: unknown): DecisionRequest {
  const o = readObject(body, [
    'actor',
    'action',
    'resource',
    'context',
    'params',
    'request_id',
    'approval_id',
  ]);
  const request: DecisionRequest = {
    actor: requireString(o, 'actor', {
      pattern: ID_PATTERN,
      patternHint: 'an agent id (letters, digits, . _ -)',
    }),
    action: requireString(o, 'action', {
      pattern: ACTION_PATTERN,
      patternHint: 'an action id like `aws.ec2.terminate_instances` or `mcp.server.tool`',
      maxLength: 200,
    }),
    resource: readString(o, 'resource', { maxLength: 1024 }) ?? '',
    context: readPlainObject(o, 'context') ?? {},
    params: o['params'] ?? null,
  };
  if (Object.hasOwn(request.context, 'params')) {
    throw new ValidationError('`context.params` is reserved: send the parameters as `params`', {
      path: 'context.params',
    });
  }
  const requestId = readString(o, 'request_id', { pattern: REQUEST_ID_PATTERN, maxLength: 128 });
  if (requestId !== undefined) request.request_id = requestId;
  const approvalId = readString(o, 'approval_id', {
    pattern: RECORD_ID_PATTERN,
    patternHint: 'the record id of an `approval_required` decision, like `main-42`',
  });
  if (approvalId !== undefined) request.approval_id = approvalId;
  return request;
}

/** `POST /approvals/{id}/approve` and `.../reject` */
export interface ApprovalVoteRequest {
  /** The digest of the params the approver saw: it must be the request's. */
  params_sha256: string;
  /** approve only: how long the approve counts, in seconds (at most the server's TTL). */
  ttl_seconds?: number;
}

export function parseApprovalVoteRequest(body: unknown, verdict: 'approve' | 'reject'): ApprovalVoteRequest {
  const o = readObject(body, verdict === 'approve' ? ['params_sha256', 'ttl_seconds'] : ['params_sha256']);
  const params_sha256 = requireString(o, 'params_sha256', {
    pattern: SHA256_PATTERN,
    patternHint:
      '64 lower-case hex characters (the `params_sha256` of the request shown by `GET /approvals`)',
  });
  const ttl = readInteger(o, 'ttl_seconds', { min: 1, max: 7 * 24 * 3600 });
  return ttl === undefined ? { params_sha256 } : { params_sha256, ttl_seconds: ttl };
}

/** What the edge knows about a decision request beyond its caller and body. */
export interface RequestOrigin {
  /** The request's SigV4 signature (hex), as verified by API Gateway or the emulator. */
  signature?: string;
}

/**
 * The server-side `request_id` of a decision request that carries none: `sig-` + SHA-256 of the
 * principal and the request's SigV4 signature. A captured request replayed within the signature's
 * validity window has the same signature, so it gets the same id and, through idempotency, the same
 * record instead of a second decision. Two identical requests signed in the same second are one request.
 */
export function signatureRequestId(principalArn: string, signature: string): string {
  return `sig-${sha256Hex(`${principalArn}\n${signature}`)}`;
}

/** `POST /actions/{id}/outcome` */
export interface OutcomeRequest {
  status: OutcomeStatus;
  exit_code: number | null;
  output_sha256: string | null;
  /** The client's nonce, written into the outcome record so the client can bind the answer to its request. */
  nonce?: string;
}

const OUTCOME_STATUSES: readonly OutcomeStatus[] = ['started', 'succeeded', 'failed'];

export function parseOutcomeRequest(body: unknown): OutcomeRequest {
  const o = readObject(body, ['status', 'exit_code', 'output_sha256', 'nonce']);
  const status = requireString(o, 'status');
  if (!OUTCOME_STATUSES.includes(status as OutcomeStatus)) {
    throw new ValidationError(`\`status\` must be one of started, succeeded, failed, got \`${status}\``);
  }
  const exit_code = readInteger(o, 'exit_code', { min: -2147483648, max: 2147483647 }) ?? null;
  const output_sha256 =
    (o['output_sha256'] === null
      ? undefined
      : readString(o, 'output_sha256', {
          pattern: SHA256_PATTERN,
          patternHint: '64 lower-case hex characters',
        })) ?? null;
  if (status === 'started' && (exit_code !== null || output_sha256 !== null)) {
    throw new ValidationError(
      '`exit_code` and `output_sha256` belong to a finished outcome, not to `started`',
    );
  }
  const nonce = readString(o, 'nonce', {
    pattern: NONCE_PATTERN,
    patternHint: '16-128 letters, digits, `-` or `_`',
  });
  return {
    status: status as OutcomeStatus,
    exit_code,
    output_sha256,
    ...(nonce !== undefined ? { nonce } : {}),
  };
}

export type AgentAttributes = Record<string, string | number | boolean | string[]>;

/** `POST /agents` */
export interface RegisterAgentRequest {
  agentId: string;
  principalArn?: string;
  attributes: AgentAttributes;
}

const PRINCIPAL_ARN_PATTERN = /^arn:aws[a-z-]*:(iam|sts)::\d{12}:[A-Za-z0-9+=,.@_/-]{1,512}$/;

export function parseRegisterAgentRequest(body: unknown): RegisterAgentRequest {
  const o = readObject(body, ['agentId', 'principalArn', 'attributes']);
  const agentId = requireString(o, 'agentId', {
    pattern: ID_PATTERN,
    patternHint: '1-64 letters, digits, `.`, `_` or `-`, starting with a letter or digit',
  });
  const principalArn = readString(o, 'principalArn', {
    pattern: PRINCIPAL_ARN_PATTERN,
    patternHint: 'an IAM role or user ARN like `arn:aws:iam::123456789012:role/agent`',
  });
  const rawAttributes = readPlainObject(o, 'attributes') ?? {};
  const attributes: AgentAttributes = {};
  for (const [key, value] of Object.entries(rawAttributes)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(key)) {
      throw new ValidationError(`attribute name \`${key}\` must be an identifier (letters, digits, _)`);
    }
    const ok =
      typeof value === 'string' ||
      typeof value === 'boolean' ||
      (typeof value === 'number' && Number.isSafeInteger(value)) ||
      (Array.isArray(value) && value.every((v) => typeof v === 'string'));
    if (!ok) {
      throw new ValidationError(
        `attribute \`${key}\` must be a string, an integer, a boolean or an array of strings`,
      );
    }
    attributes[key] = value as AgentAttributes[string];
  }
  const request: RegisterAgentRequest = { agentId, attributes };
  // INVARIANT: bound as callers are matched (a session or a role path is its role), so no other spelling
  // of a bound principal can be bound to a second agent.
  if (principalArn !== undefined) request.principalArn = normalizePrincipalArn(principalArn);
  return request;
}

/** `PUT /policies/{policyId}` */
export interface PutPolicyRequest {
  cedar: string;
  description?: string;
  /** `shadow`: evaluated and recorded beside every decision it could apply to, never deciding. */
  mode?: 'shadow';
}

export function parsePutPolicyRequest(body: unknown): PutPolicyRequest {
  const o = readObject(body, ['cedar', 'description', 'mode']);
  const cedar = requireString(o, 'cedar', { maxLength: 32 * 1024 });
  const description = readString(o, 'description', { maxLength: 1024 });
  const mode = readString(o, 'mode', { pattern: /^(enforce|shadow)$/, patternHint: '`enforce` or `shadow`' });
  return {
    cedar,
    ...(description !== undefined ? { description } : {}),
    ...(mode === 'shadow' ? { mode: 'shadow' as const } : {}),
  };
}

/** `POST /policies/allow` */
export interface AllowPolicyRequest {
  action: string;
  agentId?: string;
  resource?: string;
  reason?: string;
  /** Exact values of params (each `context.params.<name> == <value>`); needs a declared params shape. */
  params?: JsonObject;
}

export function parseAllowPolicyRequest(body: unknown): AllowPolicyRequest {
  const o = readObject(body, ['action', 'agentId', 'resource', 'reason', 'params']);
  const request: AllowPolicyRequest = {
    action: requireString(o, 'action', { pattern: ACTION_PATTERN, maxLength: 200 }),
  };
  const agentId = readString(o, 'agentId', { pattern: ID_PATTERN });
  const resource = readString(o, 'resource', { maxLength: 1024 });
  const reason = readString(o, 'reason', { maxLength: 512 });
  if (agentId !== undefined) request.agentId = agentId;
  if (resource !== undefined) request.resource = resource;
  if (reason !== undefined) request.reason = reason;
  const params = readPlainObject(o, 'params');
  if (params !== undefined) {
    if (Object.keys(params).length === 0) throw new ValidationError('`params` must name at least one param');
    request.params = params;
  }
  return request;
}

/** `PUT /schema` */
export interface PutSchemaRequest {
  declarations: Declarations;
  description?: string;
}

export function parsePutSchemaRequest(body: unknown, commonContext: readonly string[]): PutSchemaRequest {
  const o = readObject(body, ['declarations', 'description']);
  if (o['declarations'] === undefined) throw new ValidationError('`declarations` is required');
  const declarations = parseDeclarations(o['declarations'], commonContext);
  const description = readString(o, 'description', { maxLength: 1024 });
  return description === undefined ? { declarations } : { declarations, description };
}
