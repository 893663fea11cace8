import { AuditUsageError, loadPublicKeys } from '../../audit/auditFiles.js';
import { parseRecordId } from '../../core/model/index.js';
import { type DecisionRequest, ZeroTrustClient } from '../../sdk/ZeroTrustClient.js';
import { type CommandContext, EXIT, LocalFileError, parseJsonObject, UsageError } from './commands.js';
import { cell } from './format.js';

/**
 * `zt decide ACTION --as PROFILE`: one decision asked as an agent, through the SDK's `ZeroTrustClient`, so
 * the answer is judged exactly as an agent's code judges it. Exit 0 allow, 4 deny; an answer that does not
 * verify is a `ZeroTrustError` the CLI maps to 5.
 */
export async function decideCommand(ctx: CommandContext): Promise<number> {
  const [action] = ctx.positionals;
  const str = (name: string) =>
    typeof ctx.values[name] === 'string' ? (ctx.values[name] as string) : undefined;
  if (str('as') === undefined) {
    throw new UsageError('`--as PROFILE` is required: the credentials profile of the agent to ask as');
  }
  const request: DecisionRequest = { action: action as string };
  const actor = str('actor');
  if (actor !== undefined) request.actor = actor;
  const resource = str('resource');
  if (resource !== undefined) request.resource = resource;
  const context = str('context');
  if (context !== undefined) request.context = parseJsonObject(context, '--context');
  const params = str('params');
  if (params !== undefined) request.params = parseJsonValue(params, '--params');

  const keyFiles = ctx.values['public-key'];
  let trustedKeys: string[] | undefined;
  if (Array.isArray(keyFiles) && keyFiles.length > 0) {
    try {
      trustedKeys = await loadPublicKeys(
        keyFiles.map((f) => (f.includes('-----BEGIN') ? f : ctx.resolvePath(f))),
      );
    } catch (e) {
      if (e instanceof AuditUsageError) throw new LocalFileError(e.message, 'PUBLIC_KEY_UNUSABLE');
      throw e;
    }
  }
  let client: ZeroTrustClient;
  try {
    client = new ZeroTrustClient({
      ...ctx.connection,
      ...(trustedKeys !== undefined ? { trustedKeys } : { dangerouslyDisableSignatureVerification: true }),
    });
  } catch (e) {
    // a PEM that is no P-256 public key
    throw new LocalFileError(
      `the --public-key file does not hold a usable root public key: ${e instanceof Error ? e.message : String(e)}`,
      'PUBLIC_KEY_UNUSABLE',
    );
  }
  if (trustedKeys === undefined && !ctx.json) {
    ctx.err(
      "zt: warning: no --public-key: the answer is checked against this request but its signature is not (anyone answering in the gateway's place could print an allow)\n",
    );
  }

  const answer = await client.decide(request);
  const record = answer.record;
  const id = parseRecordId(record.id);
  const verified = trustedKeys !== undefined;
  if (ctx.json) {
    ctx.out(
      `${JSON.stringify(
        {
          decision: answer.decision,
          reason: answer.reason,
          policy_ids: record.policy_ids,
          actor: record.actor,
          action: record.action,
          resource: record.resource,
          record_id: record.id,
          lane: id?.lane ?? record.chain,
          seq: record.seq,
          verified,
          ...(record.shadow !== undefined ? { shadow: record.shadow } : {}),
          record,
        },
        null,
        2,
      )}\n`,
    );
  } else {
    ctx.out(
      `${answer.decision}: ${cell(answer.reason)}\n` +
        `  agent     ${cell(record.actor)}\n` +
        `  policies  ${record.policy_ids.length > 0 ? record.policy_ids.join(', ') : '-'}\n` +
        `  record    ${record.id} (lane ${id?.lane ?? record.chain}, seq ${record.seq})\n` +
        `  verified  ${verified ? 'yes, against the pinned root key' : 'no (no --public-key)'}\n`,
    );
  }
  return answer.decision === 'allow' ? EXIT.OK : EXIT.DENIED;
}

function parseJsonValue(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`\`${what}\` is not valid JSON: ${(err as Error).message.toLowerCase()}`);
  }
}
