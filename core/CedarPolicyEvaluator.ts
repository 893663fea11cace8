import { DEFAULT_SCHEMA } from './cedar.js';
import type { EvaluationResult, PolicyDiagnostic, PolicyEvaluator } from './Gateway.js';
import { allowPolicy, PolicyEngine, validatePolicy } from './PolicyEngine.js';
import type { AgentAttributes, AllowPolicyRequest } from './requests.js';

/** The Cedar engine behind the gateway's `PolicyEvaluator` port, with the schema from `infra/cedar/`. */
export class CedarPolicyEvaluator implements PolicyEvaluator {
  readonly #engine = new PolicyEngine();

  evaluate(
    policies: ReadonlyArray<{ policyId: string; cedar: string }>,
    request: {
      agentId: string;
      agentAttributes: AgentAttributes;
      action: string;
      resource: string;
      context: Record<string, unknown>;
    },
  ): EvaluationResult {
    return this.#engine.evaluate([...policies], {
      agentId: request.agentId,
      agentAttributes: request.agentAttributes,
      action: request.action,
      resource: request.resource,
      context: request.context,
    });
  }

  validate(
    policyId: string,
    cedarText: string,
  ): { ok: true } | { ok: false; diagnostics: PolicyDiagnostic[] } {
    const result = validatePolicy(policyId, cedarText, DEFAULT_SCHEMA);
    return result.ok ? { ok: true } : { ok: false, diagnostics: result.diagnostics };
  }

  allowShorthand(input: AllowPolicyRequest): { policyId: string; cedar: string } {
    return allowPolicy(input);
  }
}
