import { sha256Hex } from '../model/canonical.js';
import { BUILTIN_DECLARATIONS, type Declarations } from '../model/declarations.js';
import { approvalAnnotation } from './approval.js';
import {
  actionsNamed,
  type CedarSchema,
  cedar,
  DEFAULT_SCHEMA,
  type PolicyDiagnostic,
  schemaWithActions,
  toDiagnostics,
} from './cedar.js';
import { assertPolicyId, LONE_SURROGATE } from './storedPolicy.js';

/**
 * The check a policy text passes before it is stored: it parses, holds no template, every `@approval` reads,
 * and it validates (strict mode) against the schema and the declarations.
 */

export type PolicyValidation =
  | { ok: true; statements: number; sha256: string; warnings: PolicyDiagnostic[] }
  | { ok: false; diagnostics: PolicyDiagnostic[] };

const at1 = (message: string): PolicyDiagnostic[] => [{ message, line: 1, column: 1 }];

/**
 * Checks policy text before it is stored: it must parse, hold at least one static `permit`/`forbid`
 * (no templates), and validate (strict mode) against `schema` with every action the text names
 * declared for principal `Agent`, resource `Resource` and the schema's `Context`, plus, for an action
 * with a declaration, its declared context attributes and `context.params`. So a wrong entity
 * type (`principal == User::"x"`), an undeclared or unguarded attribute (`principal.team` without
 * `principal has team`), a param the action does not declare or a type error is refused; an unknown
 * action name is not.
 *
 * @throws ValidationError when `policyId` does not match {@link POLICY_ID_PATTERN}.
 * @returns diagnostics with 1-based line and column (characters) into `cedarText`.
 */
export function validatePolicy(
  policyId: string,
  cedarText: string,
  schema: CedarSchema = DEFAULT_SCHEMA,
  declarations: Declarations = BUILTIN_DECLARATIONS,
): PolicyValidation {
  assertPolicyId(policyId);
  if (typeof cedarText !== 'string') return { ok: false, diagnostics: at1('policy text must be a string') };
  if (LONE_SURROGATE.test(cedarText)) {
    return { ok: false, diagnostics: at1('policy text is not valid Unicode (it has a lone surrogate)') };
  }
  const empty = 'policy text is empty; expected one or more `permit` or `forbid` statements';
  if (cedarText.trim() === '') return { ok: false, diagnostics: at1(empty) };
  const parts = cedar.policySetTextToParts(cedarText);
  if (parts.type === 'failure') return { ok: false, diagnostics: toDiagnostics(cedarText, parts.errors) };
  if (parts.policy_templates.length > 0) {
    const slot = /\?(?:principal|resource)\b/.exec(cedarText);
    const where = slot ? lineColumnOfIndex(cedarText, slot.index) : { line: 1, column: 1 };
    const message = `templates are not supported: replace \`${slot?.[0] ?? '?principal'}\` with an entity such as \`Agent::"my-agent"\``;
    return { ok: false, diagnostics: [{ message, ...where }] };
  }
  if (parts.policies.length === 0) return { ok: false, diagnostics: at1(empty) };
  const actions = new Set<string>();
  for (const statement of parts.policies) {
    const json = cedar.policyToJson(statement);
    if (json.type === 'failure') return { ok: false, diagnostics: toDiagnostics(cedarText, json.errors) };
    const approval = approvalAnnotation(json.json.annotations, json.json.effect);
    if (!approval.ok) {
      const at = /@approval\b/.exec(cedarText);
      return {
        ok: false,
        diagnostics: [
          {
            message: approval.error,
            ...(at ? lineColumnOfIndex(cedarText, at.index) : { line: 1, column: 1 }),
          },
        ],
      };
    }
    actionsNamed(json.json, actions);
  }
  const answer = cedar.validate({
    schema: schemaWithActions(schema, actions, declarations),
    policies: { staticPolicies: cedarText },
    validationSettings: { mode: 'strict' },
  });
  if (answer.type === 'failure') return { ok: false, diagnostics: toDiagnostics(cedarText, answer.errors) };
  // A statement the validator proves can never match is refused, not merely warned about: it is
  // almost always an attribute the schema does not declare (`context has foo` is false for every
  // valid request), and an impossible `forbid` would protect nothing while looking like it does.
  // (Only when there is no real error: an error explains itself, the warning would only add noise.)
  if (answer.validationErrors.length > 0) {
    return {
      ok: false,
      diagnostics: toDiagnostics(
        cedarText,
        answer.validationErrors.map((e) => e.error),
      ),
    };
  }
  const impossible = answer.validationWarnings.filter((w) => IMPOSSIBLE.test(w.error.message));
  if (impossible.length > 0) {
    const help =
      'look for an attribute the schema does not declare: `context has x` is false for all of them';
    return {
      ok: false,
      diagnostics: toDiagnostics(
        cedarText,
        impossible.map((w) => ({ ...w.error, help })),
      ),
    };
  }
  return {
    ok: true,
    statements: parts.policies.length,
    sha256: sha256Hex(cedarText),
    warnings: toDiagnostics(
      cedarText,
      answer.validationWarnings.filter((w) => !impossible.includes(w)).map((w) => w.error),
    ),
  };
}

const IMPOSSIBLE = /policy is impossible|unable to find an applicable action/;

function lineColumnOfIndex(text: string, index: number): { line: number; column: number } {
  const before = text.slice(0, index);
  const lines = before.split('\n');
  return { line: lines.length, column: [...(lines.at(-1) ?? '')].length + 1 };
}
