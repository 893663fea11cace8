import { MAIN_LANE } from '../../core/model/index.js';
import { type AuditFinding, type AuditReport, formatDuration } from '../../core/verify/index.js';

/**
 * One human line per finding: `seq 12: LINK_BROKEN: ...` (lane `main`), `lane w-1 seq 12: ...` (another lane),
 * `line 6: ...` when the seq is unknown, `log: ...` for the log as a whole.
 */
export function formatFinding(finding: AuditFinding): string {
  const lane = finding.lane !== null && finding.lane !== MAIN_LANE ? `lane ${finding.lane} ` : '';
  const where =
    finding.seq !== null
      ? `${lane}seq ${finding.seq}`
      : finding.line > 0
        ? `${lane}line ${finding.line}`
        : lane !== ''
          ? lane.trimEnd()
          : 'log';
  return `${where}: ${finding.code}: ${finding.message}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function checkpointPart(report: AuditReport): string {
  if (report.scope === 'record') return 'one record (prove completeness with a receipt)';
  if (report.scope === 'suffix') return 'a suffix (no checkpoint can cover it)';
  if (report.epoch !== null) {
    const covered = report.lanes.every((l) => l.checkpoint?.covered === true);
    return `epoch ${report.epoch.epoch} ${covered ? 'covers every lane' : 'does not cover every lane'}`;
  }
  const cp = report.checkpoint;
  if (cp === null) return 'no checkpoint';
  const age = cp.ageMs === null ? '' : `, newest covered record ${formatDuration(cp.ageMs)} old`;
  return `checkpoint ${cp.size} ${cp.covered ? 'covers the tail' : 'does not cover the tail'}${age}`;
}

/**
 * The summary line: records, lanes, range (one lane), keys used, checkpoint coverage, head; prefixed by what
 * the verdict is (`verified`, `incomplete:`, `verification failed:`).
 */
export function formatSummary(report: AuditReport): string {
  const oneLane = report.lanes.length <= 1;
  const range =
    oneLane && report.firstSeq !== null && report.lastSeq !== null
      ? ` (seq ${report.firstSeq}-${report.lastSeq})`
      : '';
  const lanes = oneLane ? '' : ` in ${plural(report.lanes.length, 'lane')}`;
  const keys = plural(report.keysUsed.length, 'key');
  const head = oneLane && report.headHash ? `, head ${report.headHash}` : '';
  const body = `${plural(report.records, 'record')}${lanes}${range}, ${keys}, ${checkpointPart(report)}${head}`;
  if (report.status === 'valid') return `verified ${body}`;
  const n = plural(report.findings.length, 'finding');
  if (report.status === 'incomplete') return `incomplete (${n}): ${body}`;
  return `verification failed (${n}): ${body}`;
}

/**
 * What a valid proof is worth, said plainly: the input proves the log only up to the signed time of the newest
 * statement it carries; a verifier without memory cannot tell an older genuine bundle from the newest.
 */
export function formatScope(report: AuditReport, state: boolean): string | null {
  if (report.scope !== 'log' || report.status === 'tampered' || report.provenUpTo === null) return null;
  const age = report.epoch !== null ? ` (${formatDuration(report.epoch.ageMs)} ago)` : '';
  const memory = state
    ? 'an older statement than the one --state remembers would have failed'
    : 'a bundle cut back to an older genuine checkpoint would verify the same; --state FILE remembers the newest';
  const what =
    report.provenBy === 'signed'
      ? 'the signed time of its newest checkpoint'
      : 'the newest record its checkpoint covers (the checkpoint carries no signed time)';
  return `proves the log up to ${report.provenUpTo}${age}, ${what}, not beyond: ${memory}`;
}

/** The human output: findings, the summary, and what the proof covers. */
export function formatReport(report: AuditReport): string {
  const scope = formatScope(report, report.state !== 'none');
  return `${[...report.findings.map(formatFinding), formatSummary(report), ...(scope ? [scope] : [])].join('\n')}\n`;
}
