/**
 * core/policy: Cedar policy: the engine (validation, the allow-shorthand compiler, evaluation with its cache), the
 * schema and params declarations it is checked against, and the `@approval` annotation.
 * What the rest of the project uses from this folder; anything not listed here is internal to it.
 */

export type { AllowPolicyInput } from './allowPolicy.js';
export { allowPolicy } from './allowPolicy.js';
export { DEFAULT_APPROVAL_TTL_MS, DEFAULT_APPROVAL_WINDOW_MS } from './approval.js';
export type { CedarSchema } from './cedar.js';
export { DEFAULT_SCHEMA } from './cedar.js';
export type { EvaluationRequest, PolicyEngineOptions } from './PolicyEngine.js';
export { PolicyEngine } from './PolicyEngine.js';
export type { CedarPolicy } from './storedPolicy.js';
export { assertPolicyId, POLICY_ID_PATTERN } from './storedPolicy.js';
export type { PolicyValidation } from './validatePolicy.js';
export { validatePolicy } from './validatePolicy.js';
