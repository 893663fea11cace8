import { type AuditFinding, type AuditReport, formatDuration } from '../../core/auditBundle.js';

/** One human line per finding: `seq 12: LINK_BROKEN: ...`, or `line 6: ...` when the seq is unknown. */
export function formatFinding(finding: AuditFinding): string {
  const where =
    finding.seq !== null ? `seq ${finding.seq}` : finding.line > 0 ? `line ${finding.line}` : 'log';
  return `${where}: ${finding.code}: ${finding.message}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function checkpointPart(report: AuditReport): string {
  const cp = report.checkpoint;
  if (report.scope === 'record') return 'one record (prove completeness with a receipt)';
  if (report.scope === 'suffix') return 'a suffix (no checkpoint can cover it)';
  if (cp === null) return 'no checkpoint';
  const age = cp.ageMs === null ? '' : `, newest covered record ${formatDuration(cp.ageMs)} old`;
  return `checkpoint ${cp.size} ${cp.covered ? 'covers the tail' : 'does not cover the tail'}${age}`;
}

/**
 * The summary line: records, range, keys used, checkpoint coverage, age, head; prefixed by what the
 * verdict is (`verified`, `incomplete:`, `verification failed:`).
 */
export function formatSummary(report: AuditReport): string {
  const range =
    report.firstSeq !== null && report.lastSeq !== null ? ` (seq ${report.firstSeq}-${report.lastSeq})` : '';
  const keys = plural(report.keysUsed.length, 'key');
  const head = report.headHash ? `, head ${report.headHash}` : '';
  const body = `${plural(report.records, 'record')}${range}, ${keys}, ${checkpointPart(report)}${head}`;
  if (report.status === 'valid') return `verified ${body}`;
  const n = plural(report.findings.length, 'finding');
  if (report.status === 'incomplete') return `incomplete (${n}): ${body}`;
  return `verification failed (${n}): ${body}`;
}

/** The human output: findings, then the summary. */
export function formatReport(report: AuditReport): string {
  return `${[...report.findings.map(formatFinding), formatSummary(report)].join('\n')}\n`;
}
