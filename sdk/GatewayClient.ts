import type { PublicKeyInfo } from '../core/keys/index.js';
import type { AuditRecord } from '../core/model/index.js';
import { type RouteRequest, routeRequest } from '../core/model/index.js';
import { type CredentialProvider, credentialProvider } from './credentials.js';
import { GatewayError } from './errors.js';
import { type AwsCredentials, signRequest } from './signer.js';
import { DEFAULT_TIMEOUT_MS, type FetchLike, sendRequest, type TransportResponse } from './transport.js';

/** Options of {@link GatewayClient}. */
export interface GatewayClientOptions {
  /** Base URL of the gateway, e.g. `http://127.0.0.1:8787` or `https://abc.execute-api.us-east-1.amazonaws.com/prod`. */
  endpoint: string;
  /** SigV4 signing region. Default `us-east-1`. */
  region?: string;
  /** Explicit keys or an AWS credential provider. Wins over `profile`. */
  credentials?: AwsCredentials | CredentialProvider;
  /** A shared-credentials profile. Without it and without `credentials`, the AWS default chain is used. */
  profile?: string;
  /** The shared credentials file holding `profile` (default: `AWS_SHARED_CREDENTIALS_FILE`, then `~/.aws/credentials`). */
  credentialsFile?: string;
  /** Per-request timeout, body included. Default 10 000 ms. */
  timeoutMs?: number;
  /** Replaces the global `fetch` (tests, proxies). */
  fetch?: FetchLike;
}

/** Attribute values an agent may carry. */
export type AgentAttributeValue = string | number | boolean | string[];

/** `POST /agents` body. */
export interface RegisterAgentInput {
  agentId: string;
  /** The IAM role or user the agent signs as; locally, leave it out to have credentials minted. */
  principalArn?: string;
  attributes?: Record<string, AgentAttributeValue>;
}

/** An agent as the gateway describes it. */
export interface AgentInfo {
  agentId: string;
  principalArn: string;
  attributes?: Record<string, AgentAttributeValue>;
  status?: 'active' | 'disabled';
  createdAt?: string;
  disabledAt?: string;
  [field: string]: unknown;
}

/** `POST /agents` answer; `credentials` only when the emulator minted them (they are shown once). */
export interface RegisteredAgent extends AgentInfo {
  credentials?: { accessKeyId: string; secretAccessKey: string; profile?: string };
}

/** `PUT /policies/{policyId}` body. */
export interface PutPolicyInput {
  cedar: string;
  description?: string;
  /** `shadow`: evaluated and recorded beside every decision it could apply to, never deciding. */
  mode?: 'shadow';
}

/** `POST /policies/allow` body: the shorthand for one Cedar `permit`. */
export interface AllowPolicyInput {
  action: string;
  agentId?: string;
  resource?: string;
  reason?: string;
  /** Exact param values (`context.params.<name> == <value>`); the action needs a declared params shape. */
  params?: Record<string, unknown>;
}

/** `PUT /schema` body: the shape of actions' params and extra context attributes (see README). */
export interface PutSchemaInput {
  declarations: Record<string, unknown>;
  description?: string;
}

/** `PUT /schema` and `GET /schema` answers. */
export interface SchemaInfo {
  declarations: Record<string, unknown>;
  sha256: string;
  updatedAt: string | null;
  description?: string;
  /** Only on `GET /schema`: the declarations that ship with the gateway (the brokers' actions). */
  builtin?: Record<string, unknown>;
  [field: string]: unknown;
}

/** A stored policy as the gateway describes it. */
export interface PolicyInfo {
  policyId: string;
  sha256?: string;
  cedar?: string;
  description?: string;
  updatedAt?: string;
  [field: string]: unknown;
}

/** `PUT /policies/{policyId}` answer. */
export interface PutPolicyResult {
  policyId: string;
  sha256: string;
  [field: string]: unknown;
}

/** `POST /policies/allow` answer. */
export interface AllowPolicyResult {
  policyId: string;
  cedar: string;
  sha256: string;
  [field: string]: unknown;
}

/** `POST /actions` body. */
export interface DecideInput {
  actor: string;
  action: string;
  resource?: string;
  context?: Record<string, unknown>;
  params?: unknown;
  request_id?: string;
  /** The approval this request claims. */
  approval_id?: string;
}

/** One pending approval as `GET /approvals` shows it: the request and the approvals given so far. */
export interface ApprovalInfo {
  approval_id: string;
  principal_arn: string;
  actor: string;
  action: string;
  resource: string;
  context: Record<string, unknown>;
  params: unknown;
  context_sha256: string;
  params_sha256: string;
  policy_ids: string[];
  approvals_required: number;
  requested_at: string;
  expires_at: string;
  approvals: Array<{ record_id: string; principal_arn: string; expires_at: string }>;
}

export interface ApprovalPage {
  approvals: ApprovalInfo[];
  next: string | null;
}

/** `POST /actions` answer, unjudged: 200 allow, 403 deny (with a record, or without one for other failures). */
export interface RawDecision {
  status: number;
  body: unknown;
}

/** `GET /whoami` answer. */
export interface WhoAmI {
  agentId: string;
  principalArn: string;
  status: 'active' | 'disabled';
}

/** `POST /actions/{id}/outcome` body. */
export interface OutcomeInput {
  status: 'started' | 'succeeded' | 'failed';
  exit_code?: number | null;
  output_sha256?: string | null;
  /** A fresh random value the gateway writes into the outcome record (16-128 of `A-Za-z0-9_-`). */
  nonce?: string;
}

/** `POST /actions/allowed` body. */
export interface AllowedActionsInput {
  actor: string;
  /** Action ids, each once, 1 to 256. */
  actions: string[];
  /** A fresh random value the signed answer must carry (16-128 of `A-Za-z0-9_-`). */
  nonce: string;
}

/** One page of `GET /audit`. */
export interface AuditPage {
  /** Parsed records, in `seq` order. */
  records: AuditRecord[];
  /** `rawRecords[i]` is the exact JSON text the gateway sent for `records[i]`. */
  rawRecords: string[];
  /** The `after` of the next page, or null at the end of the log. */
  next: number | null;
  /** Asked with `requests: true`: the request data the gateway kept for these records (for replay). */
  requests?: Array<Record<string, unknown>>;
}

/** A signed lane checkpoint; `note` is the C2SP signed-note text, `time` its signed time when it has one. */
export interface Checkpoint {
  origin: string;
  size: number;
  root: string;
  time?: string;
  note: string;
  [field: string]: unknown;
}

/** The epoch statement: every lane of the log with its size and root, and the signed time. */
export interface EpochStatement {
  origin: string;
  epoch: number;
  time: string;
  lanes: Array<{ lane: string; size: number; root: string }>;
  note: string;
}

/**
 * `GET /audit/checkpoint`: the `main` lane's checkpoint at the top level, the epoch over every lane and every
 * lane's checkpoint. `epoch` and `checkpoints` are absent from a gateway of a release before lanes.
 */
export interface LogCheckpoint extends Checkpoint {
  epoch?: EpochStatement;
  checkpoints?: Checkpoint[];
}

/** A public key the gateway signs records with (`GET /keys`). */
export type GatewayKey = PublicKeyInfo;

/**
 * The signed HTTP client of the gateway: one method per route of the contract (DESIGN.md), SigV4-signed
 * for `execute-api` (except `health()`, which is open). Every method but {@link GatewayClient.decide}
 * rejects with a {@link GatewayError} on anything but a 2xx JSON answer.
 */
export class GatewayClient {
  readonly endpoint: string;
  readonly region: string;
  private readonly credentials: CredentialProvider;
  private readonly timeoutMs: number;
  private readonly fetchFn: FetchLike | undefined;

  constructor(options: GatewayClientOptions) {
    let url: URL;
    try {
      url = new URL(options.endpoint);
    } catch {
      throw new TypeError(
        `endpoint \`${options.endpoint}\` is not a URL: expected e.g. \`http://127.0.0.1:8787\``,
      );
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash) {
      throw new TypeError(
        `endpoint \`${options.endpoint}\` must be an http or https URL without query or fragment`,
      );
    }
    this.endpoint = url.toString().replace(/\/+$/, '');
    this.region = options.region ?? 'us-east-1';
    this.credentials = credentialProvider({
      ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
      ...(options.profile !== undefined ? { profile: options.profile } : {}),
      ...(options.credentialsFile !== undefined ? { credentialsFile: options.credentialsFile } : {}),
    });
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.fetchFn = options.fetch;
  }

  /** `GET /health` (unsigned): `{ok: true}` when the gateway is up. */
  async health(): Promise<{ ok: boolean }> {
    return asObject(await this.call(routeRequest('health'), undefined, { signed: false })) as { ok: boolean };
  }

  /** `POST /agents`: registers an agent. Locally, without `principalArn`, the answer carries fresh credentials. */
  async registerAgent(input: RegisterAgentInput): Promise<RegisteredAgent> {
    return asObject(await this.call(routeRequest('registerAgent'), input)) as RegisteredAgent;
  }

  /** `GET /agents` */
  async listAgents(): Promise<{ agents: AgentInfo[] }> {
    return { agents: asList(await this.call(routeRequest('listAgents')), 'agents') as AgentInfo[] };
  }

  /** `GET /agents/{agentId}` */
  async getAgent(agentId: string): Promise<AgentInfo> {
    return asObject(await this.call(routeRequest('getAgent', { agentId }))) as AgentInfo;
  }

  /** `DELETE /agents/{agentId}`: disables the agent (later decisions are recorded denies; earlier allows can no longer be started); answers the agent as it now is. */
  async disableAgent(agentId: string): Promise<AgentInfo> {
    return asObject(await this.call(routeRequest('disableAgent', { agentId }))) as AgentInfo;
  }

  /** `PUT /policies/{policyId}`: stores Cedar text (400 `HTTP_ERROR` with diagnostics when it does not validate). */
  async putPolicy(policyId: string, input: PutPolicyInput): Promise<PutPolicyResult> {
    return asObject(await this.call(routeRequest('putPolicy', { policyId }), input)) as PutPolicyResult;
  }

  /** `POST /policies/allow`: one narrow `permit` from an action (and optionally an agent and a resource). */
  async allowPolicy(input: AllowPolicyInput): Promise<AllowPolicyResult> {
    return asObject(await this.call(routeRequest('allowPolicy'), input)) as AllowPolicyResult;
  }

  /** `PUT /schema`: replaces the admin's declarations (400 with the policies they would break). */
  async putSchema(input: PutSchemaInput): Promise<SchemaInfo> {
    return asObject(await this.call(routeRequest('putSchema'), input)) as SchemaInfo;
  }

  /** `GET /schema`: the admin's declarations and the built-in ones. */
  async getSchema(): Promise<SchemaInfo> {
    return asObject(await this.call(routeRequest('getSchema'))) as SchemaInfo;
  }

  /** `GET /policies` */
  async listPolicies(): Promise<{ policies: PolicyInfo[] }> {
    return { policies: asList(await this.call(routeRequest('listPolicies')), 'policies') as PolicyInfo[] };
  }

  /** `GET /policies/{policyId}` */
  async getPolicy(policyId: string): Promise<PolicyInfo> {
    return asObject(await this.call(routeRequest('getPolicy', { policyId }))) as PolicyInfo;
  }

  /** `DELETE /policies/{policyId}` */
  async deletePolicy(policyId: string): Promise<{ policyId: string; deleted: boolean }> {
    return asObject(await this.call(routeRequest('deletePolicy', { policyId }))) as {
      policyId: string;
      deleted: boolean;
    };
  }

  /**
   * `POST /actions`, raw: any status comes back as `{status, body}` since a 403 deny with a signed record is a
   * normal answer. Judging it (and failing closed) is the caller's job. Still rejects with a
   * {@link GatewayError} when no JSON answer arrives.
   */
  async decide(input: DecideInput): Promise<RawDecision> {
    const res = await this.send(routeRequest('decide'), input, { acceptAnyStatus: true });
    return { status: res.status, body: res.json };
  }

  /**
   * `POST /actions/allowed`: the signed subset of `actions` the calling agent may be allowed (records
   * nothing). Returns the body unjudged: `ZeroTrustClient.allowedActions` verifies it.
   */
  async allowedActions(input: AllowedActionsInput): Promise<Record<string, unknown>> {
    return asObject(await this.call(routeRequest('allowedActions'), input));
  }

  /**
   * `GET /whoami`: the agent the signing credentials are bound to (403 `HTTP_ERROR` for a principal that is
   * no registered agent). Unsigned by the gateway: use it to fill in `actor`, never to trust anything.
   */
  async whoami(): Promise<WhoAmI> {
    const body = asObject(await this.call(routeRequest('whoami')));
    if (typeof body['agentId'] !== 'string' || body['agentId'] === '') {
      throw new GatewayError('INVALID_RESPONSE', '`GET /whoami` answered without an `agentId` string');
    }
    return body as unknown as WhoAmI;
  }

  /** `POST /actions/{recordId}/outcome`: reports `started` (once per decision), `succeeded` or `failed`. */
  async reportOutcome(recordId: string, input: OutcomeInput): Promise<Record<string, unknown>> {
    return asObject(await this.call(routeRequest('reportOutcome', { id: recordId }), input));
  }

  /**
   * `GET /audit?lane=&after=&limit=`: one page of a lane's records (default `main`) with `seq > after`, each
   * also as its exact JSON text.
   */
  async auditPage(
    options: { lane?: string; after?: number; limit?: number; requests?: boolean } = {},
  ): Promise<AuditPage> {
    const query: string[] = [];
    if (options.lane !== undefined) query.push(`lane=${encodeURIComponent(options.lane)}`);
    if (options.after !== undefined) query.push(`after=${encodeURIComponent(String(options.after))}`);
    if (options.limit !== undefined) query.push(`limit=${encodeURIComponent(String(options.limit))}`);
    if (options.requests === true) query.push('requests=true');
    const res = await this.send(routeRequest('auditPage'), undefined, {
      query: query.length ? `?${query.join('&')}` : '',
    });
    return parseAuditPage(res);
  }

  /**
   * Pages through one lane's `GET /audit` (default `main`) from the start (or `after`) until `next` is null,
   * yielding each page. Rejects with `INVALID_RESPONSE` when `next` does not move forward, or a record of
   * another lane comes back.
   */
  async *auditPages(
    options: { lane?: string; after?: number; limit?: number; requests?: boolean } = {},
  ): AsyncGenerator<AuditPage, void, undefined> {
    let after = options.after;
    const lane = options.lane ?? 'main';
    for (;;) {
      const page = await this.auditPage({
        ...(options.lane !== undefined ? { lane: options.lane } : {}),
        ...(after !== undefined ? { after } : {}),
        ...(options.limit !== undefined ? { limit: options.limit } : {}),
        ...(options.requests === true ? { requests: true } : {}),
      });
      const stray = page.records.find((r) => (r as { chain?: unknown }).chain !== lane);
      if (stray !== undefined) {
        throw new GatewayError(
          'INVALID_RESPONSE',
          `a page of lane \`${lane}\` holds a record of \`${String((stray as { chain?: unknown }).chain)}\``,
        );
      }
      yield page;
      if (page.next === null) return;
      if (after !== undefined && page.next <= after) {
        throw new GatewayError(
          'INVALID_RESPONSE',
          `audit paging did not advance: \`next\` ${page.next} after ${after}`,
        );
      }
      after = page.next;
    }
  }

  /**
   * Every audit record in `seq` order, paging through `GET /audit` until `next` is null.
   * `onProgress` is called after each page with the number of records yielded so far.
   */
  async *auditAll(onProgress?: (recordsSoFar: number) => void): AsyncGenerator<AuditRecord, void, undefined> {
    let count = 0;
    for await (const page of this.auditPages()) {
      for (const record of page.records) {
        count += 1;
        yield record;
      }
      onProgress?.(count);
    }
  }

  /** `GET /audit/checkpoint`: signs (or reuses) every lane's checkpoint and the epoch over them. */
  async checkpoint(): Promise<LogCheckpoint> {
    return asObject(await this.call(routeRequest('checkpoint'))) as LogCheckpoint;
  }

  /** `GET /audit/checkpoints?lane=&after=SIZE`: earlier checkpoints of a lane (default `main`). */
  async checkpoints(options: { lane?: string; after?: number } = {}): Promise<{ checkpoints: Checkpoint[] }> {
    const query: string[] = [];
    if (options.lane !== undefined) query.push(`lane=${encodeURIComponent(options.lane)}`);
    if (options.after !== undefined) query.push(`after=${encodeURIComponent(String(options.after))}`);
    const q = query.length > 0 ? `?${query.join('&')}` : '';
    return {
      checkpoints: asList(
        await this.call(routeRequest('checkpoints'), undefined, { query: q }),
        'checkpoints',
      ) as Checkpoint[],
    };
  }

  /** `GET /approvals`: pending approvals, oldest first (approvers and admins). */
  async listApprovals(options: { after?: string; limit?: number } = {}): Promise<ApprovalPage> {
    const query: string[] = [];
    if (options.after !== undefined) query.push(`after=${encodeURIComponent(options.after)}`);
    if (options.limit !== undefined) query.push(`limit=${encodeURIComponent(String(options.limit))}`);
    const q = query.length > 0 ? `?${query.join('&')}` : '';
    const body = asObject(await this.call(routeRequest('listApprovals'), undefined, { query: q }));
    return {
      approvals: asList(body, 'approvals') as ApprovalInfo[],
      next: (body['next'] as string | null) ?? null,
    };
  }

  /** `GET /approvals/{id}` */
  async getApproval(approvalId: string): Promise<ApprovalInfo> {
    return asObject(
      await this.call(routeRequest('getApproval', { id: approvalId })),
    ) as unknown as ApprovalInfo;
  }

  /**
   * `POST /approvals/{id}/approve` or `.../reject`: the caller's verdict on the request whose params digest
   * is `params_sha256` (the approver states what it saw). Resolves with the signed `approval` record, unjudged.
   */
  async voteApproval(
    approvalId: string,
    verdict: 'approve' | 'reject',
    input: { params_sha256: string; ttl_seconds?: number },
  ): Promise<Record<string, unknown>> {
    return asObject(await this.call(routeRequest(verdict, { id: approvalId }), input));
  }

  /** `GET /keys`: the gateway's root and session public keys. */
  async keys(): Promise<{ keys: GatewayKey[] }> {
    return { keys: asList(await this.call(routeRequest('keys')), 'keys') as GatewayKey[] };
  }

  private async call(
    route: RouteRequest,
    body?: unknown,
    opts: { signed?: boolean; query?: string } = {},
  ): Promise<unknown> {
    return (await this.send(route, body, opts)).json;
  }

  /** Sends a request to a route of the table (`core/model/routes.ts`); `opts.query` is `''` or `?...`. */
  private async send(
    route: RouteRequest,
    body?: unknown,
    opts: { signed?: boolean; acceptAnyStatus?: boolean; query?: string } = {},
  ): Promise<TransportResponse> {
    const url = this.endpoint + route.path + (opts.query ?? '');
    const unsigned = {
      method: route.method,
      url,
      headers: { accept: 'application/json' } as Record<string, string>,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    };
    let request: Awaited<ReturnType<typeof signRequest>>;
    if (opts.signed === false) {
      if (unsigned.body !== undefined) unsigned.headers['content-type'] = 'application/json';
      request = { ...unsigned, url: new URL(url).toString() };
    } else {
      request = await signRequest(unsigned, { credentials: await this.credentials(), region: this.region });
    }
    return sendRequest(request, {
      timeoutMs: this.timeoutMs,
      ...(this.fetchFn !== undefined ? { fetch: this.fetchFn } : {}),
      ...(opts.acceptAnyStatus ? { acceptAnyStatus: true } : {}),
    });
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asObject(value: unknown): Record<string, unknown> {
  if (!isObject(value))
    throw new GatewayError('INVALID_RESPONSE', 'expected a JSON object from the gateway', { body: value });
  return value;
}

/** Lists come as `{<key>: [...]}`; a bare array is accepted too. */
function asList(value: unknown, key: string): unknown[] {
  if (Array.isArray(value)) return value;
  if (isObject(value) && Array.isArray(value[key])) return value[key] as unknown[];
  throw new GatewayError('INVALID_RESPONSE', `expected \`{${key}: [...]}\` from the gateway`, {
    body: value,
  });
}

function parseAuditPage(res: TransportResponse): AuditPage {
  const body = res.json;
  if (!isObject(body) || !Array.isArray(body['records'])) {
    throw new GatewayError('INVALID_RESPONSE', 'expected `{records: [...], next}` from `GET /audit`', {
      body,
    });
  }
  const next = body['next'] ?? null;
  if (next !== null && !Number.isSafeInteger(next)) {
    throw new GatewayError(
      'INVALID_RESPONSE',
      `expected \`next\` to be an integer or null, got \`${JSON.stringify(next)}\``,
    );
  }
  const records = body['records'] as AuditRecord[];
  const rawRecords = rawArrayElements(res.bodyText, 'records');
  if (rawRecords.length !== records.length) {
    throw new GatewayError('INVALID_RESPONSE', 'could not delimit the records of an audit page', { body });
  }
  const page: AuditPage = { records, rawRecords, next: next as number | null };
  const requests = body['requests'];
  if (requests !== undefined) {
    if (!Array.isArray(requests) || !requests.every(isObject)) {
      throw new GatewayError('INVALID_RESPONSE', 'expected `requests` to be an array of objects', { body });
    }
    page.requests = requests as Array<Record<string, unknown>>;
  }
  return page;
}

/**
 * The exact source text of each element of the array under top-level `key` of a JSON object text, so records
 * can be exported byte for byte as served. `text` must already be known to be valid JSON.
 */
function rawArrayElements(text: string, key: string): string[] {
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const skipString = () => {
    i++; // opening quote
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++; // closing quote
  };
  const skipValue = () => {
    const c = text[i];
    if (c === '"') return skipString();
    if (c === '{' || c === '[') {
      let depth = 0;
      do {
        const d = text[i];
        if (d === '"') {
          skipString();
          continue;
        }
        if (d === '{' || d === '[') depth++;
        else if (d === '}' || d === ']') depth--;
        i++;
      } while (depth > 0 && i < text.length);
      return;
    }
    while (i < text.length && !/[\s,\]}]/.test(text[i]!)) i++;
  };

  let found: string[] = [];
  ws();
  if (text[i] !== '{') return found;
  i++;
  for (;;) {
    ws();
    if (text[i] !== '"') return found;
    const keyStart = i;
    skipString();
    const name = JSON.parse(text.slice(keyStart, i)) as string;
    ws();
    i++; // ':'
    ws();
    if (name === key && text[i] === '[') {
      const elements: string[] = [];
      i++;
      ws();
      while (text[i] !== ']') {
        const start = i;
        skipValue();
        elements.push(text.slice(start, i));
        ws();
        if (text[i] === ',') i++;
        ws();
      }
      i++;
      found = elements; // like JSON.parse, the last duplicate key wins
    } else {
      skipValue();
    }
    ws();
    if (text[i] === ',') i++;
    else return found;
  }
}
