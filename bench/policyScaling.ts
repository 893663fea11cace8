import { pathToFileURL } from 'node:url';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { type CedarPolicy, type EvaluationRequest, PolicyEngine } from '../core/policy/index.js';

/**
 * How policy evaluation scales with the number of stored policies: `PolicyEngine.evaluate` over 10
 * and over 1,000 policies (steady state: sets indexed, slices pre-parsed), against the floor of one
 * raw `statefulIsAuthorized` call on a one-statement set, and the unsliced call over all 1,000 that
 * slicing avoids. Prints figures; asserts nothing about time.
 *
 * Run: `node dist/bench/policyScaling.js [iterations]`.
 */

export interface LatencyFigures {
  iterations: number;
  median_us: number;
  p99_us: number;
}

export interface PolicyScalingFigures {
  evaluate10: LatencyFigures;
  evaluate1000: LatencyFigures;
  /** Raw `statefulIsAuthorized` on a pre-parsed one-statement set: the per-call cost of Cedar itself. */
  statefulFloor: LatencyFigures;
  /** Raw `statefulIsAuthorized` on all 1,000 statements, unsliced: what slicing saves. */
  unsliced1000: LatencyFigures;
  /** First `evaluate` of a 1,000-policy set on a fresh engine: parse, index, prepare one slice. */
  coldIndex1000_ms: number;
}

const AGENTS = ['demo-agent', 'ops-agent', 'build-agent', 'web-agent'];

/** A plausible set: one hello-world permit, per-action permits (some per agent, some conditional), a few forbids. */
function policySet(size: number): CedarPolicy[] {
  const policies: CedarPolicy[] = [
    {
      policyId: 'hello',
      cedar: 'permit(principal == Agent::"demo-agent", action == Action::"hello-world.say_hello", resource);',
    },
  ];
  for (let i = 1; i < size; i++) {
    const policyId = `p${String(i).padStart(4, '0')}`;
    const action = `Action::"svc${i % 100}.op_${i}"`;
    if (i % 50 === 0) {
      policies.push({
        policyId,
        cedar: `forbid(principal, action == ${action}, resource) when { context has environment && context.environment == "prod" };`,
      });
    } else if (i % 3 === 0) {
      policies.push({
        policyId,
        cedar: `permit(principal, action == ${action}, resource) when { principal has team && principal.team == "platform" };`,
      });
    } else {
      policies.push({
        policyId,
        cedar: `permit(principal == Agent::"${AGENTS[i % AGENTS.length]}", action == ${action}, resource);`,
      });
    }
  }
  return policies;
}

/** Requests that hit a few distinct slices, as a steady workload does. */
function requests(size: number): EvaluationRequest[] {
  const out: EvaluationRequest[] = [];
  for (let k = 0; k < 16; k++) {
    const i = 1 + ((k * 37) % (size - 1));
    out.push({
      agentId: AGENTS[k % AGENTS.length] as string,
      agentAttributes: { team: k % 2 === 0 ? 'platform' : 'web' },
      action: k % 4 === 0 ? 'hello-world.say_hello' : `svc${i % 100}.op_${i}`,
      resource: k % 3 === 0 ? '' : `i-${k}`,
      context: { environment: k % 5 === 0 ? 'prod' : 'dev', count: k },
    });
  }
  return out;
}

function measure(iterations: number, warmup: number, run: (i: number) => void): LatencyFigures {
  for (let i = 0; i < warmup; i++) run(i);
  const samples = new Float64Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const start = process.hrtime.bigint();
    run(i);
    samples[i] = Number(process.hrtime.bigint() - start) / 1000;
  }
  samples.sort();
  const at = (q: number) => samples[Math.min(iterations - 1, Math.floor(q * iterations))] as number;
  return { iterations, median_us: round(at(0.5)), p99_us: round(at(0.99)) };
}

const round = (us: number) => Math.round(us * 10) / 10;

/** Measures and returns the figures (bounded: `iterations` per row after `warmup`; the unsliced row runs a tenth). */
export function measurePolicyScaling(
  options: { iterations?: number; warmup?: number } = {},
): PolicyScalingFigures {
  const iterations = options.iterations ?? 2000;
  // V8 tiers the Cedar wasm up during the first ~1,000 calls (pauses of 10-25 ms here): warm up past that.
  const warmup = options.warmup ?? 1500;

  const evaluateWith = (size: number): LatencyFigures => {
    const engine = new PolicyEngine();
    const set = policySet(size);
    const reqs = requests(size);
    return measure(iterations, warmup, (i) => {
      engine.evaluate(set, reqs[i % reqs.length] as EvaluationRequest);
    });
  };

  const evaluate10 = evaluateWith(10);
  const evaluate1000 = evaluateWith(1000);

  const raw = (slot: string, policies: CedarPolicy[], count: number): LatencyFigures => {
    const prepared = cedar.preparsePolicySet(slot, {
      staticPolicies: Object.fromEntries(policies.map((p) => [p.policyId, p.cedar])),
    });
    if (prepared.type !== 'success') throw new Error(`cedar could not parse the ${slot} set`);
    const request = {
      principal: { type: 'Agent', id: 'demo-agent' },
      action: { type: 'Action', id: 'hello-world.say_hello' },
      resource: { type: 'Resource', id: '' },
      context: { environment: 'dev', count: 1 },
      preparsedPolicySetId: slot,
      entities: [{ uid: { type: 'Agent', id: 'demo-agent' }, attrs: { team: 'platform' }, parents: [] }],
    };
    return measure(count, Math.min(warmup, count), () => {
      cedar.statefulIsAuthorized(request);
    });
  };
  const all = policySet(1000);
  const statefulFloor = raw('bench-floor', all.slice(0, 1), iterations);
  const unsliced1000 = raw('bench-unsliced', all, Math.max(20, Math.floor(iterations / 10)));

  // Last: a cold index makes garbage whose collection would land in the rows above.
  const coldStart = process.hrtime.bigint();
  new PolicyEngine().evaluate(policySet(1000), requests(1000)[0] as EvaluationRequest);
  const coldIndex1000_ms = round(Number(process.hrtime.bigint() - coldStart) / 1e6);

  return { evaluate10, evaluate1000, statefulFloor, unsliced1000, coldIndex1000_ms };
}

/** The figures as a small text table. */
export function formatPolicyScaling(f: PolicyScalingFigures): string {
  const rows: Array<[string, LatencyFigures]> = [
    ['PolicyEngine.evaluate, 10 policies', f.evaluate10],
    ['PolicyEngine.evaluate, 1,000 policies', f.evaluate1000],
    ['statefulIsAuthorized floor, 1 policy', f.statefulFloor],
    ['statefulIsAuthorized, 1,000 unsliced', f.unsliced1000],
  ];
  const lines = [
    `${'policy evaluation (µs per call)'.padEnd(40)}${'median'.padStart(10)}${'p99'.padStart(10)}${'n'.padStart(8)}`,
    ...rows.map(
      ([name, r]) =>
        `${name.padEnd(40)}${r.median_us.toFixed(1).padStart(10)}${r.p99_us.toFixed(1).padStart(10)}${String(r.iterations).padStart(8)}`,
    ),
    `first evaluate of a new 1,000-policy set (parse + index + one slice): ${f.coldIndex1000_ms} ms`,
  ];
  return lines.join('\n');
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  const iterations = process.argv[2] ? Number(process.argv[2]) : undefined;
  console.log(formatPolicyScaling(measurePolicyScaling(iterations ? { iterations } : {})));
}
