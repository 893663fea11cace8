import type {
  AgentRecord,
  ApprovalRecord,
  AuditRecord,
  DecisionRecord,
  KeyRecord,
  OutcomeRecord,
  PolicyRecord,
  SchemaRecord,
} from '../core/model/index.js';

/**
 * Audit records as OCSF events (Open Cybersecurity Schema Framework, schema version {@link OCSF_VERSION}), for a
 * SIEM. One record is one event; which class each kind becomes, and why, is in the README ("SIEM export
 * (OCSF)"):
 *
 * | record kind | OCSF class | activity |
 * |---|---|---|
 * | `decision` | API Activity (6003), `security_control` profile | Other (99): `action_id`/`disposition_id` say allowed or denied |
 * | `outcome` | API Activity (6003) | Other (99): `status_id` says started, succeeded or failed |
 * | `agent` | Account Change (3001) | Create (1) on register, Disable (5) on disable |
 * | `policy`, `schema`, `key` | Entity Management (3004) | Update (3) on a put, Delete (4) on a delete, Create (1) for a key |
 *
 * Every event keeps what ties it to its signed record: `metadata.uid` is the record's id (`<lane>-<seq>`),
 * `metadata.sequence` its seq, `unmapped.zt` its lane, seq, `current_hash`, `previous_hash` and signing key,
 * and `raw_data` the record's JSON text exactly as stored, so `zt-audit verify-record` can check it alone.
 * Pure: no I/O.
 */
export const OCSF_VERSION = '1.8.0';

/** The product named in every event's `metadata.product`. */
export const OCSF_PRODUCT = { name: 'zt-infra', vendor_name: 'zt-infra' } as const;

/** A record kind the mapping does not know (a newer gateway): the export stops rather than drop it. */
export class OcsfMappingError extends Error {
  override readonly name = 'OcsfMappingError';
  readonly code = 'OCSF_UNMAPPED_KIND';
}

type Json = Record<string, unknown>;

const CATEGORY = {
  iam: { uid: 3, name: 'Identity & Access Management' },
  application: { uid: 6, name: 'Application Activity' },
} as const;

const CLASS = {
  apiActivity: { uid: 6003, name: 'API Activity', category: CATEGORY.application },
  accountChange: { uid: 3001, name: 'Account Change', category: CATEGORY.iam },
  entityManagement: { uid: 3004, name: 'Entity Management', category: CATEGORY.iam },
} as const;

type OcsfClass = (typeof CLASS)[keyof typeof CLASS];

/** Activity captions of the activities used, per class (OCSF 1.8.0 enums). */
const ACTIVITIES: Record<number, Record<number, string>> = {
  6003: { 1: 'Create', 2: 'Read', 3: 'Update', 4: 'Delete', 99: 'Other' },
  3001: { 1: 'Create', 5: 'Disable', 99: 'Other' },
  3004: { 1: 'Create', 3: 'Update', 4: 'Delete', 99: 'Other' },
};

const SEVERITY: Record<number, string> = { 1: 'Informational', 2: 'Low', 3: 'Medium' };
const STATUS: Record<number, string> = { 1: 'Success', 2: 'Failure', 99: 'Other' };

/** The OCSF user of a principal: `uid` is the authenticated principal ARN, the identity the gateway trusts. */
function principalUser(arn: string, extra: Json = {}): Json {
  return { uid: arn, ...extra };
}

/** The fields every event has, for `record` as class `cls` with activity `activityId`. */
function base(
  record: AuditRecord,
  raw: string,
  cls: OcsfClass,
  activityId: number,
  options: { severityId?: number; profiles?: string[]; correlationUid?: string },
): Json {
  const severityId = options.severityId ?? 1;
  const time = Date.parse(record.timestamp);
  return {
    activity_id: activityId,
    activity_name: ACTIVITIES[cls.uid]?.[activityId] as string,
    category_uid: cls.category.uid,
    category_name: cls.category.name,
    class_uid: cls.uid,
    class_name: cls.name,
    type_uid: cls.uid * 100 + activityId,
    type_name: `${cls.name}: ${ACTIVITIES[cls.uid]?.[activityId] as string}`,
    severity_id: severityId,
    severity: SEVERITY[severityId] as string,
    time,
    metadata: {
      version: OCSF_VERSION,
      product: { ...OCSF_PRODUCT },
      uid: record.id,
      sequence: record.seq,
      log_name: record.chain,
      log_provider: record.schema,
      original_time: record.timestamp,
      ...(options.correlationUid !== undefined ? { correlation_uid: options.correlationUid } : {}),
      ...(options.profiles !== undefined ? { profiles: options.profiles } : {}),
    },
    raw_data: raw,
    unmapped: {
      zt: {
        kind: record.kind,
        chain: record.chain,
        seq: record.seq,
        id: record.id,
        current_hash: record.current_hash,
        previous_hash: record.previous_hash,
        signing_key_id: record.signing_key_id,
      },
    },
  };
}

/** Adds kind-specific values to `unmapped.zt` (hashes and fields no OCSF attribute holds). */
function withUnmapped(event: Json, extra: Json): Json {
  const unmapped = event['unmapped'] as { zt: Json };
  unmapped.zt = { ...unmapped.zt, ...extra };
  return event;
}

function decisionEvent(r: DecisionRecord, raw: string): Json {
  const allowed = r.decision === 'allow';
  // A deny is worth a look (Low), a deny because evaluation failed more so (Medium); an allow is routine.
  const severityId = allowed ? 1 : r.errors.length > 0 ? 3 : 2;
  const event = base(r, raw, CLASS.apiActivity, 99, {
    severityId,
    profiles: ['security_control'],
    correlationUid: r.request_id,
  });
  Object.assign(event, {
    message: `agent \`${r.actor}\` ${allowed ? 'allowed' : 'denied'} \`${r.action}\`: ${r.reason}`,
    actor: {
      user: principalUser(r.principal_arn, { name: r.actor, type_id: 99, type: 'Agent' }),
    },
    api: {
      operation: r.action,
      service: { name: 'zt-infra' },
      request: { uid: r.request_id },
    },
    // The gateway records no network address: the endpoint is known by the principal that signed the request.
    src_endpoint: { uid: r.principal_arn },
    ...(r.resource !== '' ? { resources: [{ uid: r.resource, type: 'Resource' }] } : {}),
    status_id: allowed ? 1 : 2,
    status: allowed ? 'Success' : 'Failure',
    status_detail: r.reason,
    action_id: allowed ? 1 : 2,
    action: allowed ? 'Allowed' : 'Denied',
    disposition_id: allowed ? 1 : 2,
    disposition: allowed ? 'Allowed' : 'Blocked',
    authorizations:
      r.policy_ids.length > 0
        ? r.policy_ids.map((id) => ({ decision: r.decision, policy: { uid: id, name: id } }))
        : [{ decision: r.decision }],
  });
  return withUnmapped(event, {
    decision: r.decision,
    params_sha256: r.params_sha256,
    context_sha256: r.context_sha256,
    policy_set_sha256: r.policy_set_sha256,
    errors: r.errors,
    ...(r.config_version !== undefined ? { config_version: r.config_version } : {}),
    ...(r.shadow !== undefined ? { shadow: r.shadow } : {}),
  });
}

function outcomeEvent(r: OutcomeRecord, raw: string): Json {
  const statusId = r.status === 'succeeded' ? 1 : r.status === 'failed' ? 2 : 99;
  const event = base(r, raw, CLASS.apiActivity, 99, {
    severityId: r.status === 'failed' ? 2 : 1,
    correlationUid: r.decision_id,
  });
  Object.assign(event, {
    message: `the action allowed by \`${r.decision_id}\` ${r.status}`,
    actor: { user: principalUser(r.principal_arn, { type_id: 99, type: 'Agent' }) },
    api: { operation: 'outcome', service: { name: 'zt-infra' }, request: { uid: r.decision_id } },
    src_endpoint: { uid: r.principal_arn },
    status_id: statusId,
    status: STATUS[statusId] as string,
    status_detail: r.status,
    ...(r.exit_code !== null ? { status_code: String(r.exit_code) } : {}),
  });
  return withUnmapped(event, {
    decision_id: r.decision_id,
    status: r.status,
    exit_code: r.exit_code,
    output_sha256: r.output_sha256,
    ...(r.nonce !== undefined ? { nonce: r.nonce } : {}),
  });
}

function adminActor(r: AuditRecord): Json {
  return { user: principalUser(r.principal_arn, { type_id: 2, type: 'Admin' }) };
}

function agentEvent(r: AgentRecord, raw: string): Json {
  const activityId = r.change === 'register' ? 1 : 5;
  const event = base(r, raw, CLASS.accountChange, activityId, {});
  Object.assign(event, {
    message: `agent \`${r.agent_id}\` ${r.change === 'register' ? 'registered' : 'disabled'}`,
    actor: adminActor(r),
    user: { uid: r.bound_principal_arn, name: r.agent_id, type_id: 99, type: 'Agent' },
    status_id: 1,
    status: 'Success',
  });
  return withUnmapped(event, {
    change: r.change,
    ...(r.config_version !== undefined ? { config_version: r.config_version } : {}),
  });
}

function policyEvent(r: PolicyRecord, raw: string): Json {
  const activityId = r.change === 'put' ? 3 : 4;
  const event = base(r, raw, CLASS.entityManagement, activityId, {});
  Object.assign(event, {
    message: `policy \`${r.policy_id}\` ${r.change === 'put' ? 'stored' : 'deleted'}${r.mode === 'shadow' ? ' (shadow)' : ''}`,
    actor: adminActor(r),
    entity: {
      uid: r.policy_id,
      name: r.policy_id,
      type: 'Cedar Policy',
      type_id: 5,
      ...(r.policy_sha256 !== null ? { version: r.policy_sha256 } : {}),
      ...(r.cedar !== null ? { data: { cedar: r.cedar, ...(r.mode ? { mode: r.mode } : {}) } } : {}),
    },
    status_id: 1,
    status: 'Success',
  });
  return withUnmapped(event, {
    change: r.change,
    policy_sha256: r.policy_sha256,
    ...(r.mode !== undefined ? { mode: r.mode } : {}),
    ...(r.config_version !== undefined ? { config_version: r.config_version } : {}),
  });
}

function schemaEvent(r: SchemaRecord, raw: string): Json {
  const event = base(r, raw, CLASS.entityManagement, 3, {});
  Object.assign(event, {
    message: 'params declarations replaced',
    actor: adminActor(r),
    entity: {
      uid: 'schema',
      name: 'params declarations',
      type: 'Params Declarations',
      type_id: 99,
      version: r.schema_sha256,
      data: { declarations: r.declarations },
    },
    status_id: 1,
    status: 'Success',
  });
  return withUnmapped(event, {
    schema_sha256: r.schema_sha256,
    ...(r.config_version !== undefined ? { config_version: r.config_version } : {}),
  });
}

function keyEvent(r: KeyRecord, raw: string): Json {
  const event = base(r, raw, CLASS.entityManagement, 1, {});
  Object.assign(event, {
    message: `signing key \`${r.certified_key_id}\` certified from ${r.not_before} to ${r.not_after}`,
    actor: { user: principalUser(r.principal_arn, { type_id: 3, type: 'System' }) },
    entity: {
      uid: r.certified_key_id,
      name: 'signing key',
      type: 'Signing Key',
      type_id: 99,
      data: { public_key_pem: r.certified_public_key_pem, not_before: r.not_before, not_after: r.not_after },
    },
    status_id: 1,
    status: 'Success',
  });
  return withUnmapped(event, {
    certified_key_id: r.certified_key_id,
    not_before: r.not_before,
    not_after: r.not_after,
  });
}

/** An approver's verdict: API Activity like the decision it answers, correlated to it by its id. */
function approvalEvent(r: ApprovalRecord, raw: string): Json {
  const event = base(r, raw, CLASS.apiActivity, 99, { correlationUid: r.decision_id });
  Object.assign(event, {
    message: `approval \`${r.decision_id}\` ${r.verdict === 'approve' ? 'approved' : 'rejected'}`,
    actor: { user: principalUser(r.principal_arn, { type_id: 99, type: 'Approver' }) },
    api: {
      operation: `approval.${r.verdict}`,
      service: { name: 'zt-infra' },
      request: { uid: r.decision_id },
    },
    src_endpoint: { uid: r.principal_arn },
    status_id: 1,
    status: 'Success',
  });
  return withUnmapped(event, {
    decision_id: r.decision_id,
    verdict: r.verdict,
    params_sha256: r.params_sha256,
    expires_at: r.expires_at,
  });
}

/**
 * One audit record as an OCSF event. `raw` is the record's text as stored (kept in `raw_data`).
 *
 * @throws OcsfMappingError for a record kind this mapping does not know.
 */
export function toOcsfEvent(record: AuditRecord, raw: string): Record<string, unknown> {
  switch (record.kind) {
    case 'decision':
      return decisionEvent(record, raw);
    case 'outcome':
      return outcomeEvent(record, raw);
    case 'agent':
      return agentEvent(record, raw);
    case 'policy':
      return policyEvent(record, raw);
    case 'schema':
      return schemaEvent(record, raw);
    case 'key':
      return keyEvent(record, raw);
    case 'approval':
      return approvalEvent(record, raw);
    default:
      throw new OcsfMappingError(
        `record \`${String((record as { id?: unknown }).id)}\` is of kind \`${String((record as { kind?: unknown }).kind)}\`, which has no OCSF mapping; expected decision, outcome, agent, policy, schema, key or approval`,
      );
  }
}
