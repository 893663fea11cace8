import { ValidationError } from '../errors/errors.js';

/**
 * What a stored policy is, shared by the validator, the allow shorthand and the engine: its shape, the rule
 * for its id, and the one text rule the validator and the shorthand both apply (no lone surrogate).
 */

/** A stored policy as the engine sees it: its id and its Cedar text (one or more statements). */
export interface CedarPolicy {
  policyId: string;
  cedar: string;
}

export const POLICY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** An unpaired UTF-16 surrogate: text holding one is not valid Unicode. */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Throws a `ValidationError` unless `policyId` matches {@link POLICY_ID_PATTERN}. */
export function assertPolicyId(policyId: unknown): asserts policyId is string {
  if (typeof policyId !== 'string' || !POLICY_ID_PATTERN.test(policyId)) {
    const shown = typeof policyId === 'string' ? `\`${policyId.slice(0, 140)}\`` : `a ${typeof policyId}`;
    throw new ValidationError(
      `policy id must be 1-128 letters, digits, \`.\`, \`_\` or \`-\`, starting with a letter or digit, got ${shown}`,
    );
  }
}
