import builtinActions from '../infra/cedar/builtin-actions.json' with { type: 'json' };

/**
 * The shapes of the brokers' `params`, as policies read them (`context.params`). One source:
 * `infra/cedar/builtin-actions.json`, which the gateway loads as its built-in declarations; each broker
 * module re-exports its own entry.
 */

/** A type in Cedar's JSON schema syntax, as the declarations use it. */
export type CedarType =
  | { type: 'String' | 'Long' | 'Boolean'; required?: boolean }
  | { type: 'Set'; element: CedarType; required?: boolean }
  | { type: 'Record'; attributes: Record<string, CedarType>; required?: boolean };

/** One action's declaration: the shape of its params and of extra context attributes. */
export interface ActionDeclaration {
  params: CedarType;
  context: Record<string, CedarType>;
}

/** The built-in declarations, keyed by action id. */
export const BUILTIN_ACTION_DECLARATIONS = builtinActions as Readonly<Record<string, ActionDeclaration>>;

/** The declared params shape of a built-in broker action; throws if the file lacks it (a packaging bug). */
export function builtinParamsShape(action: string): CedarType {
  const declaration = BUILTIN_ACTION_DECLARATIONS[action];
  if (declaration === undefined) throw new Error(`no built-in declaration for \`${action}\``);
  return declaration.params;
}
