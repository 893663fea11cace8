/**
 * core/policy: Cedar policy: validation before a policy is stored, the allow-shorthand compiler, the engine that
 * evaluates (with its caches), the schema and params declarations policies are checked against, and the
 * `@approval` annotation.
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
