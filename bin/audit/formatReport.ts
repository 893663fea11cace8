import type { VerificationFinding, VerificationReport } from '../../core/ChainVerifier.js';

/** One human line per finding: `seq 12: LINK_BROKEN: ...`, or `line 6: ...` when the seq is unknown. */
export function formatFinding(finding: VerificationFinding): string {
  const where =
    finding.seq !== null ? `seq ${finding.seq}` : finding.line > 0 ? `line ${finding.line}` : 'log';
  return `${where}: ${finding.code}: ${finding.message}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The summary line: `verified 20 records (seq 1-20), 2 keys, head <hash>`, or what failed. */
export function formatSummary(report: VerificationReport): string {
  const range =
    report.firstSeq !== null && report.lastSeq !== null ? ` (seq ${report.firstSeq}-${report.lastSeq})` : '';
  const keys = plural(report.keysUsed.length, 'key');
  const head = report.headHash ? `, head ${report.headHash}` : '';
  if (report.ok) return `verified ${plural(report.records, 'record')}${range}, ${keys}${head}`;
  return `verification failed: ${plural(report.findings.length, 'finding')} in ${plural(report.records, 'record')}${range}, ${keys}${head}`;
}

/** The human output: findings, then the summary. */
export function formatReport(report: VerificationReport): string {
  return [...report.findings.map(formatFinding), formatSummary(report)].join('\n') + '\n';
}
