/**
 * Maps an IAM identity to the principal the gateway binds agents and admins to. One function for every
 * side: the caller's ARN at the edge, the admin list, and the `principalArn` an agent is registered
 * with, so two spellings of one principal can never be bound to two agents.
 * An assumed-role session (`arn:aws:sts::123456789012:assumed-role/Role/session`) is its role
 * (`arn:aws:iam::123456789012:role/Role`), so every session of an agent's role is that agent.
 * A session ARN does not show the role's path, so role ARNs are compared without their path
 * (`role/team/Role` is `role/Role`); role names are unique in an account regardless of path.
 * Anything else (users, federated users, the account root) is kept as spelled; names are compared
 * case-sensitively, as the ARNs IAM reports spell them.
 */
export function normalizePrincipalArn(arn: string): string {
  const session = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/.exec(arn);
  if (session) return `arn:${session[1]}:iam::${session[2]}:role/${session[3]}`;
  const role = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:[^/]+\/)*([^/]+)$/.exec(arn);
  if (role) return `arn:${role[1]}:iam::${role[2]}:role/${role[3]}`;
  return arn;
}
