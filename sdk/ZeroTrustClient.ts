import { randomBytes, randomUUID } from 'node:crypto';
import { CodedError } from '../core/errors/index.js';
import { keyIdOf } from '../core/keys/index.js';
import type { DecisionRecord, OutcomeRecord, OutcomeStatus } from '../core/model/index.js';
import { canonicalSha256 } from '../core/model/index.js';
import type { CredentialProvider } from './credentials.js';
import { GatewayError } from './errors.js';
import { type DecideInput, GatewayClient, type RawDecision } from './GatewayClient.js';
import type { AwsCredentials } from './signer.js';
import type { FetchLike } from './transport.js';
import { verifyAllowedAnswer } from './verifyAllowed.js';
import {
  DEFAULT_MAX_RECORD_AGE_MS,
  type DecisionExpectation,
  TrustedKeySet,
  type VerificationCode,
  verifyDecisionAnswer,
  verifyOutcomeRecord,
} from './verifyDecision.js';

/**
 * Why the SDK refused to believe (or got no) allow. Every one of them means: do not run the action.
 *
 * - `DENIED`: a verified deny; `record` and `reason` say why.
 * - `TIMEOUT`, `CONNECTION_FAILED`, `DNS_FAILURE`: no answer (after the retries).
 * - `SERVER_ERROR`: a 5xx (a 503 after the retries).
 * - `REJECTED`: a 4xx other than a deny with a record (400, a 403 without a record, 404, 409 ...), or another
 *   unexpected status.
 * - `NON_JSON_RESPONSE`: an answer whose body is not JSON.
 * - `MISSING_RECORD`, `RECORD_INVALID`, `RECORD_MISMATCH`, `RECORD_STALE`, `UNTRUSTED_KEY`,
 *   `SIGNATURE_INVALID`: the answer failed verification (see `verifyDecision.ts`).
 * - `ALREADY_STARTED`: the `started` claim of the allow was refused (409): it was already used.
 * - `APPROVAL_REQUIRED`: a verified `approval_required` answer: a human must approve first; `approvalId`
 *   names it (claim it later with `approval_id`, or let `guard` wait with `waitForApproval`).
 * - `APPROVAL_TIMEOUT`: `waitForApproval` ran out before the approval could be claimed.
 * - `APPROVAL_REJECTED`, `APPROVAL_EXPIRED`, `APPROVAL_STALE`: the claim was refused for good (rejected,
 *   past its window, or the policies in force no longer permit it).
 * - `CREDENTIALS_UNAVAILABLE`: no credentials to sign with.
 * - `INVALID_REQUEST`: the request cannot be sent as asked (e.g. `params` that JSON cannot represent).
 * - `TRUST_NOT_PINNED` (constructor): no `trustedKeys` to verify answers against, and no explicit
 *   `dangerouslyTrustOnFirstUse`.
 * - `INSECURE_TRUST_ON_FIRST_USE` (constructor): trust on first use asked for over plain http to a host
 *   that is not loopback, where anyone on the path can answer `GET /keys`.
 */
export type ZeroTrustErrorCode =
  | 'DENIED'
  | 'TIMEOUT'
  | 'CONNECTION_FAILED'
  | 'DNS_FAILURE'
  | 'SERVER_ERROR'
  | 'REJECTED'
  | 'NON_JSON_RESPONSE'
  | VerificationCode
  | 'ALREADY_STARTED'
  | 'APPROVAL_REQUIRED'
  | 'APPROVAL_TIMEOUT'
  | 'APPROVAL_REJECTED'
  | 'APPROVAL_EXPIRED'
  | 'APPROVAL_STALE'
  | 'CREDENTIALS_UNAVAILABLE'
  | 'INVALID_REQUEST'
  | 'TRUST_NOT_PINNED'
  | 'INSECURE_TRUST_ON_FIRST_USE';

/** Extra facts a {@link ZeroTrustError} may carry. */
export interface ZeroTrustErrorDetails {
  /** The decision record, when one was received and passed the schema check (always for `DENIED`). */
  record?: DecisionRecord;
  /** The gateway's reason, for `DENIED`. */
  reason?: string;
  /** The HTTP status, when an answer came. */
  status?: number;
  /** `error.code` from the gateway's error body (e.g. `REQUEST_IN_PROGRESS`). */
  serverCode?: string;
  /** The approval to claim, for the `APPROVAL_*` codes. */
  approvalId?: string;
  cause?: unknown;
}

/** The SDK's one error type: anything but a verified allow. Branch on `code`, never on the message. */
export class ZeroTrustError extends CodedError<ZeroTrustErrorCode> {
  readonly record?: DecisionRecord;
  readonly reason?: string;
  readonly status?: number;
  readonly serverCode?: string;
  readonly approvalId?: string;

  constructor(code: ZeroTrustErrorCode, message: string, details: ZeroTrustErrorDetails = {}) {
    super(code, message, details.cause === undefined ? undefined : { cause: details.cause });
    if (details.record !== undefined) this.record = details.record;
    if (details.reason !== undefined) this.reason = details.reason;
    if (details.status !== undefined) this.status = details.status;
    if (details.serverCode !== undefined) this.serverCode = details.serverCode;
    if (details.approvalId !== undefined) this.approvalId = details.approvalId;
  }
}

/** True when `err` is a {@link ZeroTrustError}, optionally with the given code. */
export function isZeroTrustError(err: unknown, code?: ZeroTrustErrorCode): err is ZeroTrustError {
  return err instanceof ZeroTrustError && (code === undefined || err.code === code);
}

/** Options of {@link ZeroTrustClient}. */
export interface ZeroTrustClientOptions {
  /** Base URL of the gateway, e.g. `http://127.0.0.1:8787`. */
  endpoint: string;
  /** SigV4 signing region. Default `us-east-1`. */
  region?: string;
  /** Explicit keys or an AWS credential provider; without it (and `profile`), the AWS default chain. */
  credentials?: AwsCredentials | CredentialProvider;
  /** A shared-credentials profile, e.g. `zt-agent-<agentId>` locally. */
  profile?: string;
  /** The shared credentials file holding `profile`. */
  credentialsFile?: string;
  /** Per-request timeout. Default 10 000 ms. */
  timeoutMs?: number;
  /**
   * Root public keys (SPKI PEM) to pin: required (unless one of the two `dangerously...` options below is
   * set). Every answer must be signed by one of them, or by a session key one of them certified (its
   * certificate is fetched from `GET /keys` and checked). Get the key with `zt keys --root-pem` (locally
   * from the data dir; in the cloud from KMS, `aws kms get-public-key`), never from the gateway you are
   * about to trust.
   */
  trustedKeys?: string[];
  /**
   * Trust on first use: takes the root keys from the first `GET /keys` answer and keeps them for the
   * client's life, instead of pinning them. Whoever answers first (a wrong URL, a DNS or network attacker)
   * then decides what is allowed. Refused for plain `http://` to a host that is not loopback; prints a
   * process warning otherwise. For local experiments only: pin `trustedKeys` in anything real.
   */
  dangerouslyTrustOnFirstUse?: boolean;
  /** Replaces the global `fetch`. */
  fetch?: FetchLike;
  /** Retries after a transport failure or a 503 (never after another status). Default 2. */
  retries?: number;
  /** Base of the jittered exponential backoff between retries. Default 100 ms. */
  retryBaseDelayMs?: number;
  /** Largest distance between a decision record's timestamp and the local clock. Default 5 minutes. */
  maxRecordAgeMs?: number;
  /**
   * Believes records without checking who signed them (hashes and bindings are still checked). Never in
   * production: anyone who can answer in the gateway's place can then allow anything.
   */
  dangerouslyDisableSignatureVerification?: boolean;
  /** The local clock (freshness checks). Default `() => new Date()`. */
  clock?: () => Date;
}

/** `decide` input: what the agent is about to do. */
export interface DecisionRequest {
  /**
   * The agent id; must be the agent bound to the signing credentials (a mismatch is a recorded deny).
   * When absent, the client asks the gateway once (`GET /whoami`) whose agent the credentials are, and
   * uses that id for every later request.
   */
  actor?: string;
  /** The action id, e.g. `aws.ec2.terminate_instances` (see the naming conventions in `helpers.ts`). */
  action: string;
  resource?: string;
  context?: Record<string, unknown>;
  /** The exact arguments of the action; the record carries their canonical SHA-256. */
  params?: unknown;
  /** The idempotency key; generated when absent. Must match `^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`. */
  request_id?: string;
  /**
   * Claims an approved request: the id of its `approval_required` decision. The rest of the request must be
   * exactly the approved one; the answer is a single-use allow, or a refusal with a code.
   */
  approval_id?: string;
}

/** A decision whose signed record passed verification. */
export interface VerifiedDecision {
  decision: 'allow' | 'deny';
  reason: string;
  record: DecisionRecord;
  /** The record's `id`, used to report outcomes. */
  recordId: string;
}

/** A verified `POST /actions/allowed` answer. */
export interface AllowedActions {
  actor: string;
  /** The actions asked that may be allowed, in the order asked. Each is still decided when it runs. */
  allowed: string[];
  /** The configuration version the gateway answered at. */
  configVersion: number;
}

/** What `fn` of {@link ZeroTrustClient.guard} receives. */
export interface GuardContext {
  decision: VerifiedDecision;
}

/** Options of {@link ZeroTrustClient.guard}. */
export interface GuardOptions {
  /**
   * Report the final outcome (`succeeded`/`failed`) after `fn`. Default true. The `started` claim is made
   * either way: it is what makes an allow single-use.
   */
  reportOutcome?: boolean;
  /**
   * Called when the final outcome could not be recorded (the action has run by then, so its result is
   * still returned). Default: a process warning.
   */
  onReportError?: (error: ZeroTrustError, recordId: string) => void;
  /**
   * On `approval_required`, wait for the approval and claim it (polling every `pollMs`, default 2 000 ms)
   * for up to `timeoutMs`; then `APPROVAL_TIMEOUT`. Without it, `approval_required` rejects at once with
   * `APPROVAL_REQUIRED`. Either way nothing runs before a verified allow is claimed.
   */
  waitForApproval?: { timeoutMs: number; pollMs?: number };
}

/** `reportOutcome` input. */
export interface OutcomeReport {
  status: OutcomeStatus;
  exit_code?: number | null;
  output_sha256?: string | null;
}

const DEFAULT_RETRIES = 2;
const DEFAULT_RETRY_BASE_DELAY_MS = 100;
const MAX_RETRY_DELAY_MS = 5_000;
const RETRYABLE_TRANSPORT = new Set(['TIMEOUT', 'CONNECTION_FAILED', 'DNS_FAILURE']);

/**
 * The fail-closed client of the gateway for agents. {@link ZeroTrustClient.guard} runs a function only on a
 * verified allow that it has claimed (`started`), and records the outcome; every other case throws a
 * {@link ZeroTrustError} and runs nothing.
 *
 * ```ts
 * const zt = new ZeroTrustClient({
 *   endpoint: 'http://127.0.0.1:8787',
 *   profile: 'zt-agent-ci',
 *   trustedKeys: [readFileSync('root.pem', 'utf8')], // `zt keys --root-pem > root.pem`
 * });
 * await zt.guard({ actor: 'ci', action: 'aws.ec2.terminate_instances', params }, () => ec2.send(cmd));
 * ```
 */
export class ZeroTrustClient {
  readonly endpoint: string;
  readonly #gateway: GatewayClient;
  readonly #retries: number;
  readonly #retryBaseDelayMs: number;
  readonly #maxAgeMs: number;
  readonly #skipSignature: boolean;
  readonly #clock: () => Date;
  /** Pinned roots (or, trusting on first use, the roots of the first `GET /keys`); certificates are added as they come. */
  #trust: TrustedKeySet | null = null;
  readonly #trustOnFirstUse: boolean;
  #trustLoading: Promise<TrustedKeySet> | null = null;
  #certificatesLoading: Promise<void> | null = null;
  /** The agent id `GET /whoami` answered, learned once on the first request without an `actor`. */
  #selfLoading: Promise<string> | null = null;

  constructor(options: ZeroTrustClientOptions) {
    this.#gateway = new GatewayClient({
      endpoint: options.endpoint,
      ...(options.region !== undefined ? { region: options.region } : {}),
      ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
      ...(options.profile !== undefined ? { profile: options.profile } : {}),
      ...(options.credentialsFile !== undefined ? { credentialsFile: options.credentialsFile } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.fetch !== undefined ? { fetch: options.fetch } : {}),
    });
    this.endpoint = this.#gateway.endpoint;
    const retries = options.retries ?? DEFAULT_RETRIES;
    if (!Number.isSafeInteger(retries) || retries < 0) {
      throw new TypeError(`\`retries\` must be an integer >= 0, got \`${retries}\``);
    }
    this.#retries = retries;
    this.#retryBaseDelayMs = options.retryBaseDelayMs ?? DEFAULT_RETRY_BASE_DELAY_MS;
    this.#maxAgeMs = options.maxRecordAgeMs ?? DEFAULT_MAX_RECORD_AGE_MS;
    this.#clock = options.clock ?? (() => new Date());
    this.#skipSignature = options.dangerouslyDisableSignatureVerification === true;
    if (this.#skipSignature) {
      process.emitWarning(
        `zt-infra: signature verification of ${this.endpoint} is DISABLED; anyone who can answer in the gateway's place can allow anything`,
        { code: 'ZT_SIGNATURE_VERIFICATION_DISABLED' },
      );
    }
    this.#trustOnFirstUse = options.dangerouslyTrustOnFirstUse === true;
    if (options.trustedKeys !== undefined) {
      if (this.#trustOnFirstUse) {
        throw new TypeError('give `trustedKeys` or `dangerouslyTrustOnFirstUse`, not both');
      }
      if (!Array.isArray(options.trustedKeys) || options.trustedKeys.length === 0) {
        throw new ZeroTrustError(
          'TRUST_NOT_PINNED',
          '`trustedKeys` must hold at least one root public key (`zt keys --root-pem` prints it)',
        );
      }
      this.#trust = new TrustedKeySet(options.trustedKeys);
    } else if (this.#trustOnFirstUse) {
      const url = new URL(this.endpoint);
      // INVARIANT: the keys that decide what is allowed never come from whoever answers plain http off loopback.
      if (url.protocol !== 'https:' && !isLoopbackHost(url.hostname)) {
        throw new ZeroTrustError(
          'INSECURE_TRUST_ON_FIRST_USE',
          `trust on first use is refused for \`${this.endpoint}\`: over plain http to a host that is not loopback anyone on the path can answer \`GET /keys\`; pin \`trustedKeys\` instead`,
        );
      }
      process.emitWarning(
        `zt-infra: the root keys of ${this.endpoint} will be taken from its first \`GET /keys\` answer (trust on first use); pin them with \`trustedKeys\` (\`zt keys --root-pem\`)`,
        { code: 'ZT_TRUST_ON_FIRST_USE' },
      );
    } else if (!this.#skipSignature) {
      // INVARIANT: no client believes a signature without a pinned root, unless asked by a loudly named option.
      throw new ZeroTrustError(
        'TRUST_NOT_PINNED',
        '`trustedKeys` is required: pin the gateway root public key (`zt keys --root-pem` prints it); without it, whoever answers `GET /keys` first would decide what is allowed',
      );
    }
  }

  /**
   * Asks the gateway and verifies the answer (see `verifyDecision.ts`). Resolves with a verified allow or a
   * verified deny; rejects with a {@link ZeroTrustError} on anything else, including a deny whose record
   * does not verify. A `request_id` is always sent (generated when absent), so the retries after a
   * transport failure or a 503 return the same record instead of deciding twice.
   */
  async decide(request: DecisionRequest): Promise<VerifiedDecision> {
    const requestId = request.request_id ?? `zt-${randomUUID()}`;
    const actor = request.actor === undefined ? await this.agentId() : request.actor;
    const wire = toWire({ ...request, actor }, requestId);
    const raw = await this.#withRetries(
      () => this.#gateway.decide(wire),
      (r: RawDecision) => r.status === 503,
    );
    const { status, body } = raw;
    if (status >= 500) throw serverError(status, body);
    const hasRecord = isObject(body) && body['audit'] !== undefined && body['audit'] !== null;
    if (status !== 200 && !(status === 403 && hasRecord)) {
      const serverCode = errorCodeOf(body);
      const serverMessage = errorMessageOf(body);
      throw new ZeroTrustError(
        'REJECTED',
        `the gateway answered ${status}${serverCode ? ` (${serverCode})` : ''} without a decision record${serverMessage ? `: ${serverMessage}` : ''}`,
        { status, ...(serverCode ? { serverCode } : {}) },
      );
    }

    const expected: DecisionExpectation = {
      request_id: requestId,
      ...(request.approval_id !== undefined ? { approval_id: request.approval_id } : {}),
      actor: wire.actor,
      action: wire.action,
      ...(wire.resource !== undefined ? { resource: wire.resource } : {}),
      ...(wire.context !== undefined ? { context: wire.context } : {}),
      params: wire.params,
    };
    const trust = this.#skipSignature ? null : await this.#trustedKeys();
    const verify = () =>
      verifyDecisionAnswer(raw, expected, trust, {
        now: this.#clock(),
        maxAgeMs: this.#maxAgeMs,
        skipSignature: this.#skipSignature,
      });
    let verdict = verify();
    if (!verdict.ok && verdict.unknownKeyId !== undefined && trust !== null) {
      // A session key newer than what we know: fetch its certificate, then judge again.
      await this.#loadCertificates(trust);
      verdict = verify();
    }
    if (!verdict.ok) {
      throw new ZeroTrustError(verdict.code, verdict.message, {
        status,
        ...(verdict.record !== undefined ? { record: verdict.record } : {}),
      });
    }
    // INVARIANT: `approval_required` is never returned as a decision: no caller can mistake it for an allow.
    if (verdict.decision === 'approval_required') {
      throw new ZeroTrustError(
        'APPROVAL_REQUIRED',
        `\`${verdict.record.action}\` needs approval \`${verdict.record.id}\`: ${verdict.reason}`,
        { record: verdict.record, reason: verdict.reason, status, approvalId: verdict.record.id },
      );
    }
    return {
      decision: verdict.decision,
      reason: verdict.reason,
      record: verdict.record,
      recordId: verdict.record.id,
    };
  }

  /**
   * The agent the credentials are bound to, asked of the gateway once (`GET /whoami`) and kept for the
   * client's life; what `decide` and `guard` use when a request names no `actor`. Rejects with a
   * {@link ZeroTrustError} (`REJECTED` with status 403 for credentials that are no registered agent). The
   * answer is not signed, and need not be: a wrong id only makes the decision a recorded deny.
   */
  async agentId(): Promise<string> {
    this.#selfLoading ??= this.#withRetries(() => this.#gateway.whoami()).then(
      (who) => who.agentId,
      (err) => {
        this.#selfLoading = null; // a failure is not remembered: the next request asks again
        throw toZeroTrustError(err);
      },
    );
    return this.#selfLoading;
  }

  /**
   * Runs `fn` only on a verified allow, once: decides, claims the allow with a `started` outcome (a 409
   * means it was already used, and nothing runs), runs `fn`, then reports `succeeded` (exit code 0, the
   * canonical SHA-256 of the JSON value `fn` returned, if any) or `failed` (exit code 1, and `fn`'s error
   * is rethrown). Rejects with a {@link ZeroTrustError} (`DENIED` for a verified deny) without calling `fn`
   * on anything but a verified allow.
   */
  async guard<T>(
    request: DecisionRequest,
    fn: (ctx: GuardContext) => Promise<T> | T,
    options: GuardOptions = {},
  ): Promise<T> {
    let decision: VerifiedDecision;
    try {
      decision = await this.decide(request);
    } catch (err) {
      const wait = options.waitForApproval;
      if (wait === undefined || !isZeroTrustError(err, 'APPROVAL_REQUIRED')) throw err;
      decision = await this.waitForApproval(request, err.approvalId as string, wait);
    }
    if (decision.decision !== 'allow') {
      throw new ZeroTrustError('DENIED', `\`${decision.record.action}\` denied: ${decision.reason}`, {
        record: decision.record,
        reason: decision.reason,
        status: 403,
      });
    }
    // INVARIANT: fn runs only after the gateway has recorded that this allow is used (single use).
    await this.reportOutcome(decision.recordId, { status: 'started' });

    const report = options.reportOutcome !== false;
    const onReportError =
      options.onReportError ??
      ((error: ZeroTrustError, recordId: string) => {
        process.emitWarning(`zt-infra: the outcome of \`${recordId}\` was not recorded: ${error.message}`, {
          code: 'ZT_OUTCOME_NOT_RECORDED',
        });
      });
    const finish = async (outcome: OutcomeReport) => {
      if (!report) return;
      try {
        await this.reportOutcome(decision.recordId, outcome);
      } catch (err) {
        onReportError(toZeroTrustError(err), decision.recordId);
      }
    };

    let result: T;
    try {
      result = await fn({ decision });
    } catch (err) {
      await finish({ status: 'failed', exit_code: 1, output_sha256: null });
      throw err;
    }
    await finish({ status: 'succeeded', exit_code: 0, output_sha256: outputDigest(result) });
    return result;
  }

  /**
   * Waits for approval `approvalId` of `request` and claims it: re-asks with `approval_id` every `pollMs`
   * (default 2 000, at least 100) until a verified allow comes (returned; claim it with `started` before
   * running anything, as {@link guard} does), the claim is refused for good (`APPROVAL_REJECTED`,
   * `APPROVAL_EXPIRED`, `APPROVAL_STALE`, or `REJECTED` with the server's code), or `timeoutMs` passes
   * (`APPROVAL_TIMEOUT`). A refused claim writes nothing, so one request id serves every try.
   */
  async waitForApproval(
    request: DecisionRequest,
    approvalId: string,
    wait: { timeoutMs: number; pollMs?: number },
  ): Promise<VerifiedDecision> {
    if (!Number.isFinite(wait.timeoutMs) || wait.timeoutMs < 0) {
      throw new TypeError(`\`waitForApproval.timeoutMs\` must be a number >= 0, got \`${wait.timeoutMs}\``);
    }
    const pollMs = Math.max(100, wait.pollMs ?? 2_000);
    const deadline = Date.now() + wait.timeoutMs;
    const claim: DecisionRequest = { ...request, approval_id: approvalId, request_id: `zt-${randomUUID()}` };
    for (;;) {
      try {
        return await this.decide(claim);
      } catch (err) {
        if (!isZeroTrustError(err) || err.code !== 'REJECTED') throw err;
        const final = CLAIM_REFUSED[err.serverCode ?? ''];
        if (final !== undefined) {
          throw new ZeroTrustError(final, `approval \`${approvalId}\` cannot be claimed: ${err.message}`, {
            approvalId,
            ...(err.status !== undefined ? { status: err.status } : {}),
            ...(err.serverCode !== undefined ? { serverCode: err.serverCode } : {}),
            cause: err,
          });
        }
        if (err.serverCode !== 'APPROVAL_PENDING') throw err;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new ZeroTrustError(
          'APPROVAL_TIMEOUT',
          `approval \`${approvalId}\` was not given within ${wait.timeoutMs} ms; nothing ran`,
          { approvalId },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, left)));
    }
  }

  /**
   * Which of `actions` the agent may be allowed (`POST /actions/allowed`): for offering an agent, or a
   * model, only what it may use. The gateway records nothing; its answer is signed and verified like a
   * decision (pinned root, certified session key, this request's nonce and list), and rejects with a
   * {@link ZeroTrustError} when it does not verify or does not come. It decides nothing: run an action only
   * on its own verified allow ({@link ZeroTrustClient.guard}). Up to 256 actions per call.
   */
  async allowedActions(actor: string, actions: readonly string[]): Promise<AllowedActions> {
    const nonce = randomBytes(18).toString('base64url');
    const input = { actor, actions: [...actions], nonce };
    const body = await this.#withRetries(() => this.#gateway.allowedActions(input));
    const trust = this.#skipSignature ? null : await this.#trustedKeys();
    const verify = () =>
      verifyAllowedAnswer(body, input, trust, {
        now: this.#clock(),
        maxAgeMs: this.#maxAgeMs,
        skipSignature: this.#skipSignature,
      });
    let verdict = verify();
    if (!verdict.ok && verdict.unknownKeyId !== undefined && trust !== null) {
      await this.#loadCertificates(trust);
      verdict = verify();
    }
    if (!verdict.ok)
      throw new ZeroTrustError(verdict.code, `allowed actions not believed: ${verdict.message}`);
    return {
      actor: verdict.answer.actor,
      allowed: verdict.allowed,
      configVersion: verdict.answer.config_version,
    };
  }

  /**
   * `POST /actions/{recordId}/outcome` for callers that run the action themselves: `started` first (once
   * per decision), then `succeeded` or `failed`. Resolves with the verified outcome record. A 409 on
   * `started` rejects with `ALREADY_STARTED`.
   */
  async reportOutcome(recordId: string, outcome: OutcomeReport): Promise<OutcomeRecord> {
    // A fresh nonce per report (the retries of one report resend it): the gateway writes it into the record,
    // and only a record carrying it answers this request.
    const nonce = randomBytes(18).toString('base64url');
    const body =
      outcome.status === 'started'
        ? { status: outcome.status, nonce }
        : {
            status: outcome.status,
            exit_code: outcome.exit_code ?? null,
            output_sha256: outcome.output_sha256 ?? null,
            nonce,
          };
    let answer: Record<string, unknown>;
    try {
      answer = await this.#withRetries(() => this.#gateway.reportOutcome(recordId, body));
    } catch (err) {
      if (
        outcome.status === 'started' &&
        err instanceof ZeroTrustError &&
        err.code === 'REJECTED' &&
        err.status === 409
      ) {
        throw new ZeroTrustError('ALREADY_STARTED', `decision \`${recordId}\` was already claimed`, {
          status: 409,
          ...(err.serverCode !== undefined ? { serverCode: err.serverCode } : {}),
          cause: err,
        });
      }
      throw err;
    }
    const trust = this.#skipSignature ? null : await this.#trustedKeys();
    const verify = () =>
      verifyOutcomeRecord(answer['audit'], { decision_id: recordId, status: outcome.status, nonce }, trust, {
        skipSignature: this.#skipSignature,
      });
    let verdict = verify();
    if (!verdict.ok && verdict.unknownKeyId !== undefined && trust !== null) {
      await this.#loadCertificates(trust);
      verdict = verify();
    }
    if (!verdict.ok) throw new ZeroTrustError(verdict.code, `outcome not recorded: ${verdict.message}`);
    return verdict.record;
  }

  /** The trusted root keys: the pinned ones, or (trusting on first use) those fetched once from `GET /keys`. */
  async #trustedKeys(): Promise<TrustedKeySet> {
    if (this.#trust !== null) return this.#trust;
    if (!this.#trustOnFirstUse)
      throw new ZeroTrustError('TRUST_NOT_PINNED', 'no pinned root key to verify against');
    this.#trustLoading ??= (async () => {
      try {
        const listing = await this.#fetchKeys();
        const roots = listing.filter(
          (k) => k['role'] === 'root' && typeof k['publicKeyPem'] === 'string' && keyIdMatches(k),
        );
        if (roots.length === 0) {
          throw new ZeroTrustError('UNTRUSTED_KEY', '`GET /keys` lists no usable root key');
        }
        const trust = new TrustedKeySet(roots.map((k) => k['publicKeyPem'] as string));
        addCertificates(trust, listing);
        this.#trust = trust;
        return trust;
      } finally {
        this.#trustLoading = null;
      }
    })();
    return this.#trustLoading;
  }

  /**
   * Fetches `GET /keys` again for the certificates of session keys certified since. Root entries are
   * ignored: the roots are fixed for the client's life. One fetch at a time.
   */
  async #loadCertificates(trust: TrustedKeySet): Promise<void> {
    this.#certificatesLoading ??= (async () => {
      try {
        addCertificates(trust, await this.#fetchKeys());
      } finally {
        this.#certificatesLoading = null;
      }
    })();
    return this.#certificatesLoading;
  }

  async #fetchKeys(): Promise<Array<Record<string, unknown>>> {
    let keys: unknown[];
    try {
      keys = (await this.#withRetries(() => this.#gateway.keys())).keys;
    } catch (err) {
      if (err instanceof GatewayError && err.code === 'INVALID_RESPONSE') {
        throw new ZeroTrustError(
          'UNTRUSTED_KEY',
          `\`GET /keys\` answered an unexpected shape: ${err.message}`,
        );
      }
      throw err;
    }
    return keys.filter(isObject);
  }

  /**
   * Runs `op`, retrying (jittered exponential backoff) after a transport failure or a 503, never after any
   * other answer; failures come out as {@link ZeroTrustError}s.
   */
  async #withRetries<T>(op: () => Promise<T>, retryAnswer: (answer: T) => boolean = () => false): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= this.#retries;
      let answer: T;
      try {
        answer = await op();
      } catch (err) {
        if (last || !isRetryableError(err)) throw toZeroTrustError(err);
        await this.#backoff(attempt);
        continue;
      }
      if (last || !retryAnswer(answer)) return answer;
      await this.#backoff(attempt);
    }
  }

  async #backoff(attempt: number): Promise<void> {
    const cap = Math.min(MAX_RETRY_DELAY_MS, this.#retryBaseDelayMs * 2 ** attempt);
    const delay = Math.random() * cap; // "full jitter": spreads the retries of many agents
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

/** The request as it goes on the wire, i.e. what the gateway hashes (JSON drops `undefined`, calls `toJSON`). */
/** Server codes that end a claim for good, as the client's codes. */
const CLAIM_REFUSED: Record<string, ZeroTrustErrorCode> = {
  APPROVAL_REJECTED: 'APPROVAL_REJECTED',
  APPROVAL_EXPIRED: 'APPROVAL_EXPIRED',
  APPROVAL_STALE: 'APPROVAL_STALE',
};

function toWire(
  request: DecisionRequest & { actor: unknown },
  requestId: string,
): DecideInput & { params: unknown } {
  if (typeof request.actor !== 'string' || request.actor === '') {
    throw new ZeroTrustError('INVALID_REQUEST', '`actor` must be a non-empty string');
  }
  if (typeof request.action !== 'string' || request.action === '') {
    throw new ZeroTrustError('INVALID_REQUEST', '`action` must be a non-empty string');
  }
  const input: DecideInput = {
    actor: request.actor as string,
    action: request.action,
    request_id: requestId,
  };
  if (request.resource !== undefined) input.resource = request.resource;
  if (request.context !== undefined) input.context = request.context;
  if (request.params !== undefined) input.params = request.params;
  if (request.approval_id !== undefined) input.approval_id = request.approval_id;
  let wire: DecideInput;
  try {
    // JSON.stringify would silently turn NaN and Infinity into null, so the gateway would approve something
    // other than what runs; RFC 8785 refuses them, so check the values as given first.
    canonicalSha256(input.params);
    if (input.context !== undefined) canonicalSha256(input.context);
    wire = JSON.parse(JSON.stringify(input)) as DecideInput;
  } catch (err) {
    throw new ZeroTrustError(
      'INVALID_REQUEST',
      `the request cannot be sent as JSON: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  if (wire.context !== undefined && !isObject(wire.context)) {
    throw new ZeroTrustError('INVALID_REQUEST', '`context` must be a JSON object');
  }
  return { ...wire, params: wire.params ?? null };
}

function isRetryableError(err: unknown): boolean {
  if (!(err instanceof GatewayError)) return false;
  return RETRYABLE_TRANSPORT.has(err.code) || err.status === 503;
}

/** Maps the HTTP layer's errors to the SDK's codes. */
function toZeroTrustError(err: unknown): ZeroTrustError {
  if (err instanceof ZeroTrustError) return err;
  if (!(err instanceof GatewayError)) {
    return new ZeroTrustError(
      'CONNECTION_FAILED',
      `the request failed: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  const details = {
    cause: err,
    ...(err.status !== undefined ? { status: err.status } : {}),
    ...(err.serverCode !== undefined ? { serverCode: err.serverCode } : {}),
  };
  switch (err.code) {
    case 'TIMEOUT':
    case 'CONNECTION_FAILED':
    case 'DNS_FAILURE':
    case 'CREDENTIALS_UNAVAILABLE':
      return new ZeroTrustError(err.code, err.message, details);
    case 'NON_JSON_RESPONSE':
      return err.status !== undefined && err.status >= 500
        ? new ZeroTrustError('SERVER_ERROR', `the gateway answered ${err.status}`, details)
        : new ZeroTrustError('NON_JSON_RESPONSE', err.message, details);
    case 'HTTP_ERROR':
      return err.status !== undefined && err.status >= 500
        ? new ZeroTrustError('SERVER_ERROR', err.message, details)
        : new ZeroTrustError('REJECTED', err.message, details);
    case 'INVALID_RESPONSE':
      return new ZeroTrustError('MISSING_RECORD', err.message, details);
  }
}

function serverError(status: number, body: unknown): ZeroTrustError {
  const serverCode = errorCodeOf(body);
  return new ZeroTrustError('SERVER_ERROR', `the gateway answered ${status}`, {
    status,
    ...(serverCode ? { serverCode } : {}),
  });
}

function errorCodeOf(body: unknown): string | undefined {
  const error = isObject(body) ? body['error'] : undefined;
  return isObject(error) && typeof error['code'] === 'string' ? error['code'] : undefined;
}

function errorMessageOf(body: unknown): string | undefined {
  const error = isObject(body) ? body['error'] : undefined;
  return isObject(error) && typeof error['message'] === 'string' ? error['message'] : undefined;
}

/** A host name that can only be this machine: `127.0.0.0/8`, `::1` or `localhost`. */
function isLoopbackHost(hostname: string): boolean {
  const host = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  if (host === 'localhost' || host === '::1') return true;
  // The URL parser has already normalised an IPv4 host (`127.1` -> `127.0.0.1`) and refused octets over 255.
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function keyIdMatches(entry: Record<string, unknown>): boolean {
  try {
    return keyIdOf(entry['publicKeyPem'] as string) === entry['keyId'];
  } catch {
    return false;
  }
}

/** Adds the certificate of every session entry of a `GET /keys` listing; entries without one add nothing. */
function addCertificates(trust: TrustedKeySet, listing: Array<Record<string, unknown>>): void {
  for (const entry of listing) {
    if (entry['role'] !== 'session' || entry['certificate'] === undefined) continue;
    const keyId = typeof entry['keyId'] === 'string' ? entry['keyId'] : undefined;
    // A bad certificate is skipped: its key stays untrusted, which the verdict reports.
    trust.addCertificate(entry['certificate'], keyId);
  }
}

/** The canonical SHA-256 of `fn`'s JSON-serialisable result, or null when there is none. */
function outputDigest(result: unknown): string | null {
  if (result === undefined) return null;
  try {
    const text = JSON.stringify(result);
    return text === undefined ? null : canonicalSha256(JSON.parse(text));
  } catch {
    return null;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
