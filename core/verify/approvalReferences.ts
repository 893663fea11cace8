import type { ApprovalRecord, AuditRecord, DecisionRecord } from '../model/records.js';
import type { RecordPlace } from './configReferences.js';

/**
 * Approvals across lanes (issue 11): every allow that claims an approval (`approval_id`) must rest on valid
 * approval records, and every approval record on the request it names.
 *
 * For a claim (an allow with `approval_id` A):
 * - A is an `approval_required` decision in the log (`APPROVAL_NOT_FOUND`), asked by the same principal for
 *   the same actor, action, resource, context and params (`APPROVAL_MISMATCH`), claimed before its window
 *   ended (`APPROVAL_EXPIRED`), and claimed by one allow only (`APPROVAL_CLAIMED_TWICE`);
 * - the allow requires at least what A required (`APPROVAL_INSUFFICIENT`);
 * - every approval it cites is in the log (`APPROVAL_NOT_FOUND`), a record with no finding of the chain steps
 *   (so hashed, linked and signed by a trusted key; `APPROVAL_INVALID` otherwise), an `approve` of A by
 *   someone other than the requester (`APPROVAL_INVALID`), for the same params (`APPROVAL_MISMATCH`),
 *   given before the allow and not expired at it (`APPROVAL_EXPIRED`);
 * - the distinct approvers among the valid ones are at least the allow's `approvals_required`
 *   (`APPROVAL_INSUFFICIENT`), and no `reject` of A came before the allow (`APPROVAL_REJECTED`).
 *
 * For every approval record: it names an `approval_required` decision in the log (`APPROVAL_NOT_FOUND`), is
 * not by that request's principal (`APPROVAL_INVALID`), and carries its params digest (`APPROVAL_MISMATCH`).
 *
 * That the policies the allow cites were in force at its configuration version is the check of
 * {@link ConfigReferences} (`POLICY_NOT_IN_FORCE`), which covers claims like any allow. Memory grows with
 * the approval-related records only (requests, verdicts, claims), which are few beside decisions.
 */

export type ApprovalFindingCode =
  | 'APPROVAL_NOT_FOUND'
  | 'APPROVAL_MISMATCH'
  | 'APPROVAL_INVALID'
  | 'APPROVAL_INSUFFICIENT'
  | 'APPROVAL_EXPIRED'
  | 'APPROVAL_REJECTED'
  | 'APPROVAL_CLAIMED_TWICE';

export interface ApprovalFinding {
  code: ApprovalFindingCode;
  place: RecordPlace;
  message: string;
}

type Kept<R> = R & { place: RecordPlace };

const idOf = (p: RecordPlace) => `${p.lane}-${p.seq}`;

/** True when `a` was written before `b`: by time across lanes, by seq within one. */
function before(a: Kept<{ timestamp: string }>, b: Kept<{ timestamp: string }>): boolean {
  if (a.place.lane === b.place.lane) return a.place.seq < b.place.seq;
  return a.timestamp < b.timestamp;
}

export class ApprovalReferences {
  readonly #requests = new Map<string, Kept<DecisionRecord>>();
  readonly #claims: Array<Kept<DecisionRecord>> = [];
  readonly #verdicts = new Map<string, Kept<ApprovalRecord>>();

  /** Feeds one schema-valid record (reduced records included: they keep what this reads). */
  add(record: AuditRecord, place: RecordPlace): void {
    if (record.kind === 'approval') {
      this.#verdicts.set(idOf(place), { ...record, place });
    } else if (record.kind === 'decision') {
      if (record.decision === 'approval_required') this.#requests.set(idOf(place), { ...record, place });
      else if (record.decision === 'allow' && record.approval_id !== undefined)
        this.#claims.push({ ...record, place });
    }
  }

  /** `tainted`: ids (`<lane>-<seq>`) of records with a finding of the chain steps; none of them counts. */
  finish(tainted: ReadonlySet<string>): ApprovalFinding[] {
    const findings: ApprovalFinding[] = [];
    const report = (code: ApprovalFindingCode, place: RecordPlace, message: string) =>
      findings.push({ code, place, message });

    for (const verdict of this.#verdicts.values()) {
      const request = this.#requests.get(verdict.decision_id);
      if (request === undefined) {
        report(
          'APPROVAL_NOT_FOUND',
          verdict.place,
          `${verdict.verdict} of \`${verdict.decision_id}\`, which is no \`approval_required\` decision in the log`,
        );
        continue;
      }
      if (verdict.principal_arn === request.principal_arn) {
        report(
          'APPROVAL_INVALID',
          verdict.place,
          `${verdict.verdict} of \`${verdict.decision_id}\` by its own requester \`${verdict.principal_arn}\``,
        );
      }
      if (verdict.params_sha256 !== request.params_sha256) {
        report(
          'APPROVAL_MISMATCH',
          verdict.place,
          `${verdict.verdict} of \`${verdict.decision_id}\` names params \`${verdict.params_sha256}\`, the request's are \`${request.params_sha256}\``,
        );
      }
    }

    const claimedBy = new Map<string, string>();
    for (const claim of this.#claims) {
      const a = claim.approval_id as string;
      const at = claim.place;
      const earlier = claimedBy.get(a);
      if (earlier !== undefined) {
        report(
          'APPROVAL_CLAIMED_TWICE',
          at,
          `allow claims approval \`${a}\`, already claimed by \`${earlier}\``,
        );
      } else claimedBy.set(a, idOf(at));

      const request = this.#requests.get(a);
      if (request === undefined) {
        report(
          'APPROVAL_NOT_FOUND',
          at,
          `allow claims approval \`${a}\`, which is no \`approval_required\` decision in the log`,
        );
        continue;
      }
      if (tainted.has(a)) {
        report('APPROVAL_INVALID', at, `allow claims approval \`${a}\`, whose record does not verify`);
      }
      const differs = (
        ['principal_arn', 'actor', 'action', 'resource', 'context_sha256', 'params_sha256'] as const
      ).find((f) => claim[f] !== request[f]);
      if (differs !== undefined) {
        report(
          'APPROVAL_MISMATCH',
          at,
          `allow claims approval \`${a}\` for another request: its \`${differs}\` is \`${String(claim[differs])}\`, the approved request's \`${String(request[differs])}\``,
        );
      }
      if (!(claim.timestamp < (request.approval_expires_at as string))) {
        report(
          'APPROVAL_EXPIRED',
          at,
          `allow at ${claim.timestamp} claims approval \`${a}\`, whose window ended at ${request.approval_expires_at}`,
        );
      }
      const required = claim.approvals_required ?? 0;
      if (required < (request.approvals_required ?? 1)) {
        report(
          'APPROVAL_INSUFFICIENT',
          at,
          `allow requires ${required} approvals, approval \`${a}\` required ${request.approvals_required}`,
        );
      }
      const approvers = new Set<string>();
      for (const id of claim.approvals ?? []) {
        const v = this.#verdicts.get(id);
        if (v === undefined) {
          report('APPROVAL_NOT_FOUND', at, `allow cites approval record \`${id}\`, which is not in the log`);
          continue;
        }
        const why = tainted.has(id)
          ? 'does not verify'
          : v.verdict !== 'approve'
            ? `is a \`${v.verdict}\``
            : v.decision_id !== a
              ? `approves \`${v.decision_id}\`, not \`${a}\``
              : v.principal_arn === request.principal_arn
                ? 'was given by the requester itself'
                : null;
        if (why !== null) {
          report('APPROVAL_INVALID', at, `allow cites approval record \`${id}\`, which ${why}`);
          continue;
        }
        if (v.params_sha256 !== claim.params_sha256) {
          report(
            'APPROVAL_MISMATCH',
            at,
            `allow cites approval record \`${id}\` for params \`${v.params_sha256}\`, the allow's are \`${claim.params_sha256}\``,
          );
          continue;
        }
        if (!before(v, claim) || !(claim.timestamp < (v.expires_at as string))) {
          report(
            'APPROVAL_EXPIRED',
            at,
            `allow at ${claim.timestamp} cites approval record \`${id}\`, valid from ${v.timestamp} until ${v.expires_at}`,
          );
          continue;
        }
        approvers.add(v.principal_arn);
      }
      if (approvers.size < required) {
        report(
          'APPROVAL_INSUFFICIENT',
          at,
          `allow requires ${required} distinct approvers, its valid approval records name ${approvers.size}`,
        );
      }
      for (const v of this.#verdicts.values()) {
        if (v.decision_id === a && v.verdict === 'reject' && before(v, claim)) {
          report(
            'APPROVAL_REJECTED',
            at,
            `allow claims approval \`${a}\`, rejected by \`${idOf(v.place)}\` before it`,
          );
        }
      }
    }
    return findings;
  }
}
