/**
 * core/policy: Cedar policy: the engine (validation, the allow-shorthand compiler, evaluation with its cache), the
 * schema and params declarations it is checked against, and the `@approval` annotation.
 * What the rest of the project uses from this folder; anything not listed here is internal to it.
 */

export { DEFAULT_APPROVAL_TTL_MS, DEFAULT_APPROVAL_WINDOW_MS } from './approval.js';
export type {
  AllowPolicyInput,
  CedarPolicy,
  CedarSchema,
  EvaluationRequest,
  PolicyEngineOptions,
  PolicyValidation,
} from './PolicyEngine.js';
export {
  allowPolicy,
  assertPolicyId,
  DEFAULT_SCHEMA,
  POLICY_ID_PATTERN,
  PolicyEngine,
  validatePolicy,
} from './PolicyEngine.js';
