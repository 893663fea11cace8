import { MAIN_LANE } from '../../core/model/index.js';
import {
  chainPartition,
  type KeyValueStore,
  LANES_PARTITION,
  scanPartition,
} from '../../core/ports/index.js';
import { verifyChain } from '../../core/verify/index.js';

/** What the instances said about one request: its id, and for an answered one its decision and record. */
export interface AnsweredRequest {
  requestId: string;
  /** `allow`/`deny`, or null when the request failed (a 5xx: no answer to account for). */
  decision: string | null;
  lane: string | null;
  seq: number;
}

/** What {@link verifyLanes} found in the table after a run. */
export interface Verification {
  /** Lanes holding at least one record. */
  lanes: number;
  records: number;
  /** Lanes with any verifier finding (a gap, a fork, a broken hash, link or signature). */
  forked: number;
  /** The first findings, for the report. */
  findings: string[];
  /** Answered allow/deny whose record is not where the answer said, or says something else. */
  lost: number;
  /** Records beyond the first for one request id. */
  duplicated: number;
  /** Decision records of a request that got no answer (a 5xx): the caller was denied; the log holds more. */
  unansweredRecords: number;
}

/**
 * Checks the table after a run: every lane (the `lanes` registry and `main`) is verified as its own chain
 * from the root key alone (core/verify/ChainVerifier: every hash, link, seq, signature and certificate); every
 * answered decision has its record at the lane and seq it was answered with, with the same request id and
 * decision; no request id has two records.
 */
export async function verifyLanes(
  store: KeyValueStore,
  rootPublicKeyPem: string,
  requests: Iterable<AnsweredRequest>,
): Promise<Verification> {
  const lanes = new Set<string>([MAIN_LANE]);
  for await (const item of scanPartition(store, LANES_PARTITION, 500)) {
    lanes.add((JSON.parse(item) as { lane: string }).lane);
  }
  const v: Verification = {
    lanes: 0,
    records: 0,
    forked: 0,
    findings: [],
    lost: 0,
    duplicated: 0,
    unansweredRecords: 0,
  };
  const byRequest = new Map<string, Array<{ lane: string; seq: number; decision: string }>>();
  for (const lane of lanes) {
    const lines: string[] = [];
    for await (const line of scanPartition(store, chainPartition(lane), 1000)) lines.push(line);
    if (lines.length === 0) continue;
    v.lanes++;
    v.records += lines.length;
    const report = verifyChain(lines, { trustedRootKeys: [rootPublicKeyPem], chain: lane });
    if (!report.ok) {
      v.forked++;
      for (const f of report.findings.slice(0, 3)) v.findings.push(`${lane}: ${f.code} at seq ${f.seq}`);
    }
    for (const line of lines) {
      let r: { kind?: string; request_id?: string; seq?: number; decision?: string };
      try {
        r = JSON.parse(line) as typeof r;
      } catch {
        continue; // the verifier reported it
      }
      if (r.kind !== 'decision' || typeof r.request_id !== 'string' || typeof r.seq !== 'number') continue;
      const list = byRequest.get(r.request_id) ?? [];
      list.push({ lane, seq: r.seq, decision: String(r.decision) });
      byRequest.set(r.request_id, list);
    }
  }
  const answered = new Set<string>();
  for (const request of requests) {
    if (request.decision === null) continue;
    answered.add(request.requestId);
    const found = byRequest
      .get(request.requestId)
      ?.some((r) => r.lane === request.lane && r.seq === request.seq && r.decision === request.decision);
    if (!found) v.lost++;
  }
  for (const [requestId, list] of byRequest) {
    v.duplicated += list.length - 1;
    if (!answered.has(requestId)) v.unansweredRecords += list.length;
  }
  return v;
}
