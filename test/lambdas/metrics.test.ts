import { describe, expect, it } from 'vitest';
import type { DecisionRecord } from '../../core/model/records.js';
import { ROUTE_GROUPS, servesRoute } from '../../lambdas/api.js';
import type { ApiGatewayProxyEvent } from '../../lambdas/apigw.js';
import { type EmfDocument, emfDocument, METRIC_NAMES, Metrics } from '../../lambdas/metrics.js';

const decision = (d: 'allow' | 'deny') =>
  ({
    kind: 'decision',
    id: 'main-7',
    decision: d,
    action: 'ci.deploy',
    actor: 'spoofed-claim',
    principal_arn: 'arn:aws:iam::111122223333:role/Agent',
  }) as DecisionRecord;

function capture() {
  const lines: string[] = [];
  const metrics = new Metrics({
    service: 'ZtInfra',
    write: (l) => lines.push(l),
    now: () => 1_764_000_000_000,
  });
  return { metrics, docs: () => lines.map((l) => JSON.parse(l) as EmfDocument), lines };
}

describe('when the handlers emit metrics', () => {
  it('writes EMF documents CloudWatch can extract: namespace, dimensions as members, counts', () => {
    const doc = emfDocument({
      namespace: 'ZtInfra',
      timestamp: 1,
      dimensions: { Service: 'S', Decision: 'deny' },
      counts: { Decisions: 1 },
      properties: { principal: 'p' },
    });
    expect(doc).toEqual({
      _aws: {
        Timestamp: 1,
        CloudWatchMetrics: [
          {
            Namespace: 'ZtInfra',
            Dimensions: [['Service', 'Decision']],
            Metrics: [{ Name: 'Decisions', Unit: 'Count' }],
          },
        ],
      },
      principal: 'p',
      Service: 'S',
      Decision: 'deny',
      Decisions: 1,
    });
  });

  it('counts decisions by result and attributes denies to the verified principal, not the body claim', () => {
    const { metrics, docs, lines } = capture();
    const events = metrics.gatewayEvents();
    events.decision?.(decision('allow'));
    events.decision?.(decision('deny'));
    expect(docs().map((d) => [d['Decision'], d[METRIC_NAMES.decisions]])).toEqual([
      ['allow', 1],
      ['deny', 1],
    ]);
    expect(docs()[1]).toMatchObject({ principal: 'arn:aws:iam::111122223333:role/Agent', decision: 'deny' });
    expect(lines.join('')).not.toContain('spoofed-claim');
    for (const l of lines) expect(l).not.toContain('\n');
  });

  it('tells signing failures from other append failures, and reports conflicts only when there are some', () => {
    const { metrics, docs } = capture();
    metrics.appendFailed({ code: 'SIGNING_FAILED' });
    metrics.appendFailed({ code: 'STORE_UNAVAILABLE' });
    metrics.appendConflicts(0);
    metrics.appendConflicts(3);
    expect(docs().map((d) => d._aws.CloudWatchMetrics[0]?.Metrics.map((m) => m.Name))).toEqual([
      ['SigningFailures'],
      ['AppendFailures'],
      ['AppendConflicts'],
    ]);
    expect(docs()[2]?.['AppendConflicts']).toBe(3);
  });

  it('counts each lost race told on the events port as one AppendConflicts', () => {
    const { metrics, docs } = capture();
    const events = metrics.gatewayEvents();
    events.appendConflict?.();
    events.appendConflict?.();
    expect(docs().map((d) => d['AppendConflicts'])).toEqual([1, 1]);
  });

  it('never throws when the sink does', () => {
    const metrics = new Metrics({
      service: 'S',
      write: () => {
        throw new Error('EPIPE');
      },
    });
    expect(() => metrics.decision(decision('allow'))).not.toThrow();
  });
});

describe('when one function serves one route group', () => {
  const ev = (httpMethod: string, resource: string) => ({ httpMethod, resource }) as ApiGatewayProxyEvent;

  it("serves its own routes and the catch-all, and refuses another group's routes", () => {
    expect(servesRoute('decisions', ev('POST', '/actions'))).toBe(true);
    expect(servesRoute('decisions', ev('POST', '/agents'))).toBe(false);
    expect(servesRoute('admin', ev('POST', '/actions'))).toBe(false);
    expect(servesRoute('audit', ev('GET', '/audit/checkpoint'))).toBe(true);
    // catch-all methods: the router answers 404/405
    expect(servesRoute('decisions', ev('PATCH', '/actions'))).toBe(true);
    expect(servesRoute('decisions', ev('GET', '/{proxy+}'))).toBe(true);
    // no group (the emulator) serves everything
    expect(servesRoute(undefined, ev('POST', '/agents'))).toBe(true);
  });

  it('assigns every route to exactly one group', () => {
    const all = Object.values(ROUTE_GROUPS).flat();
    expect(new Set(all).size).toBe(all.length);
  });
});
