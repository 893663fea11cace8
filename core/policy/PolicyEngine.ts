import { canonicalize, sha256Hex } from '../model/canonical.js';
import {
  BUILTIN_DECLARATIONS,
  checkRequest,
  type Declarations,
  type DeclaredAttribute,
  declarationFor,
} from '../model/declarations.js';
import { type AllowPolicyInput, allowPolicy } from './allowPolicy.js';
import { approvalAnnotation } from './approval.js';
import {
  type CedarSchema,
  cedar,
  commonContextOf,
  DEFAULT_SCHEMA,
  parseStatements,
  type StatementScope,
  scopeOf,
  toCedarRecord,
  toDiagnostics,
} from './cedar.js';
import { LruCache } from './lru.js';
import type { CedarPolicy } from './storedPolicy.js';
import { type PolicyValidation, validatePolicy } from './validatePolicy.js';

/**
 * The evaluator: decides a request against the stored policy set (`evaluate`) and says which stored
 * policies can apply to an (action, agent) (`applicablePolicyIds`, `mayAllow`).
 *
 * The largest file of core/policy/, for one job: evaluating fast. The set index (each stored text parsed
 * once, its statements filed by action and principal scope), the slices per (action, agent) and the Cedar
 * slots they are kept in are private state of the one class, there only to make `evaluate` fast, so they
 * stay with it. The checks before a policy is stored are in validatePolicy.ts, the allow shorthand in
 * allowPolicy.ts, the LRU behind its caches in lru.ts.
 */

/**
 * One decision request. Cedar sees principal `Agent::"<agentId>"` (with `agentAttributes` as its
 * attributes), action `Action::"<action>"`, resource `Resource::"<resource>"` and `context` as is.
 * A request without a resource uses `resource: ''`, i.e. `Resource::""`: a policy that does not
 * constrain `resource` matches it, one naming `Resource::"x"` does not (there is no wildcard id).
 */
export interface EvaluationRequest {
  agentId: string;
  agentAttributes?: Record<string, unknown>;
  action: string;
  resource: string;
  context: Record<string, unknown>;
  /**
   * The request's params. When the action's declaration has a params shape, they must fit it and
   * policies read them as `context.params`; otherwise they are not evaluated (only hashed into the record).
   */
  params?: unknown;
}

export interface EvaluationResult {
  /** `approval_required`: allowed only once approved (a determining permit carries `@approval`). */
  decision: 'allow' | 'deny' | 'approval_required';
  /** Lower-case, one sentence, ids in backticks. */
  reason: string;
  /** Stored policy ids that determined the decision (permits, forbids, or the ones that errored); sorted, unique. */
  policy_ids: string[];
  /** SHA-256 hex of the canonical JSON of the whole set, `[{policyId, cedar}]` sorted by id. */
  policy_set_sha256: string;
  /** Evaluation errors, each naming its policy; non-empty means the decision is deny. */
  errors: string[];
  /** On `approval_required`: how many distinct approvers the determining permits ask for (the largest). */
  approvals_required?: number;
}

/** Counters for tests and metrics: how often the expensive steps ran. */
export interface PolicyEngineStats {
  /** Distinct policy sets (by hash) indexed: each stored policy parsed (or reused) and its statements indexed. */
  policySetsIndexed: number;
  /** Stored policy texts parsed into statements (cached by text, so a changed set re-parses only what changed). */
  policiesParsed: number;
  /** `preparsePolicySet` calls: slices of a set handed to Cedar to keep parsed. */
  policySetsPrepared: number;
  /** `statefulIsAuthorized` calls. */
  cedarCalls: number;
}

export interface PolicyEngineOptions {
  /** Validation schema (default: `infra/cedar/schema.cedarschema.json`). */
  schema?: CedarSchema;
  /** Indexed policy sets kept, by hash (default 4: the current set and a few recent ones). */
  maxPolicySets?: number;
  /** Slices kept per set, by (action, agent) (default 4096). */
  maxSlices?: number;
  /** Slices kept parsed inside Cedar (default 256); each holds a wasm-side slot that is reused on eviction. */
  maxPreparedSets?: number;
  /** Parsed stored-policy texts kept (default 8192). */
  maxParsedPolicies?: number;
}

interface Statement {
  /** Cedar-side id: `<policyId>#<n>`, n counting statements of the stored policy from 0 in source order. */
  id: string;
  policyId: string;
  index: number;
  count: number;
  text: string;
  effect: cedar.Effect;
  principal: StatementScope['principal'];
  /**
   * True when the statement matches every request of the (action, agent) its scope selects: no `when` or
   * `unless`, no resource constraint, and a principal scope that is exactly every agent or one agent.
   */
  unconditional: boolean;
  /** Position in the set (policies by id, then statement order): slices keep this order. */
  ordinal: number;
  /** Distinct approvers an allow it determines needs (`@approval`); 0 for none. */
  approvers: number;
}

type ParsedPolicy =
  | {
      ok: true;
      statements: Array<{ text: string; scope: StatementScope; unconditional: boolean; approvers: number }>;
    }
  | { ok: false; error: string };

interface Slice {
  statements: Statement[];
  byId: Map<string, Statement>;
  /** Content hash of the statements (ids and texts): equal slices of different sets share a Cedar slot. */
  key: string;
}

interface IndexedSet {
  sha256: string;
  byAction: Map<string, Statement[]>;
  anyAction: Statement[];
  /** Set-level failures (a stored policy that does not parse, a repeated id): every decision denies. */
  errors: string[];
  erroredPolicyIds: string[];
  slices: LruCache<string, Slice>;
}

let engineCount = 0;

const list = (ids: readonly string[]): string => ids.map((id) => `\`${id}\``).join(', ');
const policies = (ids: readonly string[]): string =>
  `${ids.length === 1 ? 'policy' : 'policies'} ${list(ids)}`;
const uniqueSorted = (ids: Iterable<string>): string[] => [...new Set(ids)].sort(compareIds);

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Cedar evaluation with our semantics: default deny, any matching `forbid` wins, and, unlike Cedar's
 * skip-on-error, **deny on error**: a policy that errors while evaluated makes the decision deny,
 * with the error recorded.
 *
 * Fast and flat as policies grow: a set is indexed once per hash (each stored text parsed once, and
 * each statement filed by its action and principal scope); a request hands Cedar only the
 * statements whose scope can match its (action, agent), kept pre-parsed inside Cedar per slice. A
 * changed set is indexed on first use, so a write is visible to the very next decision.
 *
 * Implements the gateway's `PolicyEvaluator` (`evaluate`, `validate`, `allowShorthand`).
 */
export class PolicyEngine {
  readonly stats: PolicyEngineStats = {
    policySetsIndexed: 0,
    policiesParsed: 0,
    policySetsPrepared: 0,
    cedarCalls: 0,
  };
  readonly schema: CedarSchema;
  readonly #maxSlices: number;
  readonly #sets: LruCache<string, IndexedSet>;
  readonly #parsed: LruCache<string, ParsedPolicy>;
  readonly #prepared: LruCache<string, string>;
  /** The last set seen for a given array, with the pairs it held then (checked, not trusted). */
  readonly #byArray = new WeakMap<object, { pairs: Array<[string, string]>; set: IndexedSet }>();
  readonly #freeSlots: string[] = [];
  readonly #slotPrefix = `zt-policy-engine-${++engineCount}-`;
  #nextSlot = 0;

  /** The schema's common `Context` attributes: typed for every action, never redeclared by one. */
  readonly commonContext: Readonly<Record<string, DeclaredAttribute>>;

  constructor(options: PolicyEngineOptions = {}) {
    this.schema = options.schema ?? DEFAULT_SCHEMA;
    this.commonContext = commonContextOf(this.schema);
    this.#maxSlices = options.maxSlices ?? 4096;
    this.#sets = new LruCache(options.maxPolicySets ?? 4);
    this.#parsed = new LruCache(options.maxParsedPolicies ?? 8192);
    // Cedar has no call to drop a pre-parsed set: an evicted slice's slot is reused (overwritten).
    this.#prepared = new LruCache(options.maxPreparedSets ?? 256, (_key, slot) => this.#freeSlots.push(slot));
  }

  /** {@link validatePolicy} against this engine's schema and `declarations` (default: the built-in ones). */
  validate(policyId: string, cedarText: string, declarations?: Declarations): PolicyValidation {
    return validatePolicy(policyId, cedarText, this.schema, declarations);
  }

  /** {@link allowPolicy}. */
  allowShorthand(input: AllowPolicyInput): CedarPolicy {
    return allowPolicy(input);
  }

  /**
   * Decides one request against the whole stored set. Never throws for bad request data: a context
   * or attribute Cedar cannot represent (a float, a null) is a deny with the error recorded.
   */
  evaluate(
    policySet: ReadonlyArray<CedarPolicy>,
    request: EvaluationRequest,
    declarations: Declarations = BUILTIN_DECLARATIONS,
  ): EvaluationResult {
    const set = this.#indexed(policySet);
    const result = (
      decision: EvaluationResult['decision'],
      reason: string,
      policy_ids: string[] = [],
      errors: string[] = [],
    ): EvaluationResult => ({ decision, reason, policy_ids, policy_set_sha256: set.sha256, errors });
    const failed = (what: string, ids: string[], errors: string[]) =>
      result('deny', `policy evaluation failed: ${what}`, ids, errors);

    // INVARIANT: a set that cannot be fully evaluated decides nothing; the broken policy could be a forbid.
    if (set.errors.length > 0) {
      return failed(
        `${policies(set.erroredPolicyIds)} cannot be evaluated`,
        set.erroredPolicyIds,
        set.errors,
      );
    }
    // INVARIANT: what a policy can read is checked against its declared shape before Cedar sees it; a
    // request that does not fit is a deny naming the field, so an allow approves exactly what runs.
    const declared = declarationFor(declarations, request.action);
    const misfit = checkRequest(declared ?? {}, this.commonContext, {
      params: request.params ?? null,
      context: request.context,
    });
    if (misfit !== null) {
      return result(
        'deny',
        `the request does not fit the shape declared for \`${request.action}\`: ${misfit}`,
      );
    }
    const context = toCedarRecord(
      declared?.params ? { ...request.context, params: request.params } : request.context,
      'context',
    );
    if (!context.ok) return failed('the context is not valid Cedar data', [], [context.error]);
    const attributes = toCedarRecord(request.agentAttributes ?? {}, 'agent attributes');
    if (!attributes.ok)
      return failed('the agent attributes are not valid Cedar data', [], [attributes.error]);
    const resource = request.resource ?? '';
    const noMatch = `no policy permits \`${request.action}\` for agent \`${request.agentId}\``;

    const slice = this.#slice(set, request.action, request.agentId);
    if (slice.statements.length === 0) return result('deny', noMatch);
    const slot = this.#slotFor(slice);
    if (typeof slot !== 'string') return failed('cedar could not load the policies', [], slot.errors);

    const agent = { type: 'Agent', id: request.agentId };
    const answer = cedar.statefulIsAuthorized({
      principal: agent,
      action: { type: 'Action', id: request.action },
      resource: { type: 'Resource', id: resource },
      context: context.value,
      preparsedPolicySetId: slot,
      entities: [{ uid: agent, attrs: attributes.value, parents: [] }],
    });
    this.stats.cedarCalls++;
    if (answer.type === 'failure') {
      return failed(
        'cedar rejected the request',
        [],
        answer.errors.map((e) => `cedar: ${e.message}`),
      );
    }

    const { decision, diagnostics } = answer.response;
    const label = (s: Statement) =>
      s.count > 1 ? `\`${s.policyId}\` (statement ${s.index + 1})` : `\`${s.policyId}\``;
    const errors: string[] = [];
    const erroredIds: string[] = [];
    for (const e of diagnostics.errors) {
      const s = slice.byId.get(e.policyId);
      errors.push(`policy ${s ? label(s) : `\`${e.policyId}\``}: ${e.error.message}`);
      erroredIds.push(s?.policyId ?? e.policyId);
    }
    const determining: Statement[] = [];
    for (const id of diagnostics.reason) {
      const s = slice.byId.get(id);
      if (s) determining.push(s);
      else errors.push(`cedar named an unknown policy \`${id}\``);
    }
    const forbids = uniqueSorted(determining.filter((s) => s.effect === 'forbid').map((s) => s.policyId));
    const permits = uniqueSorted(determining.filter((s) => s.effect === 'permit').map((s) => s.policyId));

    if (decision === 'deny' && forbids.length > 0) {
      return result('deny', `forbidden by ${policies(forbids)}`, forbids, errors);
    }
    if (errors.length > 0) {
      const ids = uniqueSorted(erroredIds);
      return failed(`error in ${policies(ids)}`, ids, errors);
    }
    if (decision === 'allow' && permits.length > 0) {
      // INVARIANT: a permit that asks for approval never allows on its own, whichever other permits match.
      const approvers = Math.max(
        0,
        ...determining.filter((s) => s.effect === 'permit').map((s) => s.approvers),
      );
      if (approvers > 0) {
        return {
          ...result(
            'approval_required',
            `permitted by ${policies(permits)} once ${approvers === 1 ? 'an approver approves' : `${approvers} distinct approvers approve`}`,
            permits,
          ),
          approvals_required: approvers,
        };
      }
      return result('allow', `permitted by ${policies(permits)}`, permits);
    }
    return result('deny', noMatch);
  }

  /** Ids of the stored policies with a statement whose scope can match (action, agent), sorted. */
  applicablePolicyIds(policySet: ReadonlyArray<CedarPolicy>, action: string, agentId: string): string[] {
    const set = this.#indexed(policySet);
    return uniqueSorted([
      ...set.erroredPolicyIds,
      ...this.#slice(set, action, agentId).statements.map((s) => s.policyId),
    ]);
  }

  /**
   * Whether some request of `action` by `agentId` could be allowed under `policySet`, without a request:
   * true when a `permit` statement's scope can match (action, agent), whatever its conditions (a permit
   * that reads `context.params` counts as possible), and no `forbid` matches (action, agent)
   * unconditionally (no `when`/`unless`, no resource constraint). False when the set cannot be evaluated
   * (every decision would deny). Reads only the statements of this (action, agent): it says nothing about
   * other agents' policies. An over-approximation of what `evaluate` can allow, never an under-one: a
   * listed action may still be denied (its conditions, a conditional forbid), an unlisted one never
   * allowed.
   */
  mayAllow(policySet: ReadonlyArray<CedarPolicy>, action: string, agentId: string): boolean {
    const set = this.#indexed(policySet);
    // INVARIANT: a set that cannot be evaluated allows nothing, so it lists nothing either.
    if (set.errors.length > 0) return false;
    const { statements } = this.#slice(set, action, agentId);
    if (statements.some((s) => s.effect === 'forbid' && s.unconditional)) return false;
    return statements.some((s) => s.effect === 'permit');
  }

  /** The indexed set for this array: by identity when its contents are unchanged, else by hash. */
  #indexed(policySet: ReadonlyArray<CedarPolicy>): IndexedSet {
    const memo = this.#byArray.get(policySet);
    if (memo && memo.pairs.length === policySet.length) {
      let same = true;
      for (let i = 0; i < policySet.length && same; i++) {
        const p = policySet[i] as CedarPolicy;
        const [id, text] = memo.pairs[i] as [string, string];
        same = p.policyId === id && p.cedar === text;
      }
      if (same) return memo.set;
    }
    const pairs = policySet.map((p): [string, string] => [p.policyId, p.cedar]);
    const sorted = [...pairs].sort((a, b) => compareIds(a[0], b[0]));
    const sha256 = sha256Hex(
      canonicalize(sorted.map(([policyId, cedarText]) => ({ policyId, cedar: cedarText }))),
    );
    let set = this.#sets.get(sha256);
    if (!set) {
      set = this.#index(sorted, sha256);
      this.#sets.set(sha256, set);
    }
    this.#byArray.set(policySet, { pairs, set });
    return set;
  }

  #index(sorted: Array<[string, string]>, sha256: string): IndexedSet {
    this.stats.policySetsIndexed++;
    const set: IndexedSet = {
      sha256,
      byAction: new Map(),
      anyAction: [],
      errors: [],
      erroredPolicyIds: [],
      slices: new LruCache(this.#maxSlices),
    };
    let ordinal = 0;
    sorted.forEach(([policyId, text], i) => {
      if (i > 0 && sorted[i - 1]?.[0] === policyId) {
        set.errors.push(`policy \`${policyId}\` appears more than once in the set`);
        set.erroredPolicyIds.push(policyId);
        return;
      }
      const parsed = this.#parse(text);
      if (!parsed.ok) {
        set.errors.push(`policy \`${policyId}\` ${parsed.error}`);
        set.erroredPolicyIds.push(policyId);
        return;
      }
      parsed.statements.forEach(({ text: statementText, scope, unconditional, approvers }, index) => {
        // A statement whose scope names another entity type can never match: leave it out.
        if (scope.principal === 'never' || scope.actions === 'never') return;
        const statement: Statement = {
          id: `${policyId}#${index}`,
          policyId,
          index,
          count: parsed.statements.length,
          text: statementText,
          effect: scope.effect,
          principal: scope.principal,
          unconditional,
          ordinal: ordinal++,
          approvers,
        };
        if (scope.actions === 'any') {
          set.anyAction.push(statement);
        } else {
          for (const action of new Set(scope.actions)) {
            const bucket = set.byAction.get(action);
            if (bucket) bucket.push(statement);
            else set.byAction.set(action, [statement]);
          }
        }
      });
    });
    set.erroredPolicyIds = uniqueSorted(set.erroredPolicyIds);
    return set;
  }

  #parse(text: string): ParsedPolicy {
    const cached = this.#parsed.get(text);
    if (cached) return cached;
    this.stats.policiesParsed++;
    let parsed: ParsedPolicy;
    const result = typeof text === 'string' ? parseStatements(text) : null;
    if (result === null) {
      parsed = { ok: false, error: 'has no Cedar text' };
    } else if (!result.ok) {
      const first = toDiagnostics(text, result.errors)[0];
      const detail = result.templates
        ? 'is a template'
        : `does not parse${first ? ` (line ${first.line}, column ${first.column}: ${first.message})` : ''}`;
      parsed = { ok: false, error: detail };
    } else {
      const annotations = result.statements.map((s) => approvalAnnotation(s.json.annotations, s.json.effect));
      const invalid = annotations.find((a) => !a.ok);
      // INVARIANT: an `@approval` the engine cannot read makes the policy unusable (so every decision of
      // its set denies); it is never read as "no approval needed".
      parsed =
        invalid !== undefined && !invalid.ok
          ? { ok: false, error: `has an invalid annotation: ${invalid.error}` }
          : {
              ok: true,
              statements: result.statements.map((s, i) => ({
                text: s.text,
                scope: scopeOf(s.json),
                unconditional: matchesWholeScope(s.json),
                approvers: (annotations[i] as { approvers: number }).approvers,
              })),
            };
    }
    this.#parsed.set(text, parsed);
    return parsed;
  }

  #slice(set: IndexedSet, action: string, agentId: string): Slice {
    const key = `${action}\u0000${agentId}`;
    const cached = set.slices.get(key);
    if (cached) return cached;
    const statements = [...(set.byAction.get(action) ?? []), ...set.anyAction]
      .filter(
        (s) => s.principal === 'any' || (typeof s.principal === 'object' && s.principal.agentId === agentId),
      )
      .sort((a, b) => a.ordinal - b.ordinal);
    const slice: Slice = {
      statements,
      byId: new Map(statements.map((s) => [s.id, s])),
      key: sha256Hex(statements.map((s) => `${s.id}\u0000${s.text}`).join('\u0000')),
    };
    set.slices.set(key, slice);
    return slice;
  }

  #slotFor(slice: Slice): string | { errors: string[] } {
    const existing = this.#prepared.get(slice.key);
    if (existing !== undefined) return existing;
    const slot = this.#freeSlots.pop() ?? `${this.#slotPrefix}${this.#nextSlot++}`;
    const answer = cedar.preparsePolicySet(slot, {
      staticPolicies: Object.fromEntries(slice.statements.map((s) => [s.id, s.text])),
    });
    this.stats.policySetsPrepared++;
    if (answer.type === 'failure') {
      // Cedar left the slot as it was; it stays free and unmapped.
      this.#freeSlots.push(slot);
      return { errors: answer.errors.map((e) => `cedar: ${e.message}`) };
    }
    this.#prepared.set(slice.key, slot);
    return slot;
  }
}

/**
 * True when a statement matches every request whose (action, agent) its scope selects: it has no
 * condition, leaves `resource` unconstrained (or only `is Resource`, the one resource type), and its
 * principal is unconstrained, `is Agent`, or exactly one agent (`==`, `in`, `is Agent in`; agents have no
 * parents). Anything else may or may not match a given request, so it is not unconditional.
 */
function matchesWholeScope(json: cedar.PolicyJson): boolean {
  if (json.conditions.length > 0) return false;
  const resource = json.resource;
  const resourceAny =
    resource.op === 'All' || (resource.op === 'is' && resource.entity_type === 'Resource' && !resource.in);
  if (!resourceAny) return false;
  const principal = json.principal;
  const isAgent = (c: { entity: cedar.EntityUidJson } | { slot: string }) =>
    'entity' in c && entityType(c.entity) === 'Agent';
  switch (principal.op) {
    case 'All':
      return true;
    case '==':
      return isAgent(principal);
    case 'in':
      return isAgent(principal);
    case 'is':
      return principal.entity_type === 'Agent' && (!principal.in || isAgent(principal.in));
    default:
      return false;
  }
}

function entityType(uid: cedar.EntityUidJson): string {
  return '__entity' in uid ? uid.__entity.type : uid.type;
}
