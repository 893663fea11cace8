import { AuditInputError, AuditUsageError } from '../../audit/auditFiles.js';
import { replayBundle } from '../../audit/replay.js';
import { ReplayError } from '../../core/gateway/index.js';
import { type CommandContext, LocalFileError, UsageError } from './commands.js';
import { cell, shortHash, table } from './format.js';

/** A replay refused for what it found (exit 1): the bundle, the request data or a candidate is not usable. */
export class ReplayRefusedError extends Error {
  override readonly name = 'ReplayRefusedError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** `zt policies replay --bundle DIR --policies DIR --public-key FILE [--schema FILE] [--json]`. */
export async function policiesReplayCommand(ctx: CommandContext): Promise<void> {
  const bundle = ctx.values['bundle'];
  const policies = ctx.values['policies'];
  const keys = ctx.values['public-key'];
  const schema = ctx.values['schema'];
  if (typeof bundle !== 'string') throw new UsageError('`--bundle DIR` is required');
  if (typeof policies !== 'string') throw new UsageError('`--policies DIR` is required');
  const publicKeys = Array.isArray(keys) ? keys : typeof keys === 'string' ? [keys] : [];
  if (publicKeys.length === 0) {
    throw new UsageError(
      '`--public-key FILE` (the root public key the bundle must verify against) is required',
    );
  }
  let result: Awaited<ReturnType<typeof replayBundle>>;
  try {
    result = await replayBundle({
      bundle: ctx.resolvePath(bundle),
      policies: ctx.resolvePath(policies),
      ...(typeof schema === 'string' ? { schema: ctx.resolvePath(schema) } : {}),
      publicKeys: publicKeys.map((k) => ctx.resolvePath(k)),
      now: new Date(),
    });
  } catch (err) {
    if (err instanceof ReplayError) throw new ReplayRefusedError(err.code, err.message);
    if (err instanceof AuditInputError || err instanceof AuditUsageError)
      throw new LocalFileError(err.message);
    throw err;
  }
  if (ctx.json) {
    const { verification, ...rest } = result;
    ctx.out(
      `${JSON.stringify({ ...rest, verification: { status: verification.status, records: verification.records, lanes: verification.lanes.length, epoch: verification.epoch?.epoch ?? null } }, null, 2)}\n`,
    );
    return;
  }
  const v = result.verification;
  ctx.out(
    `bundle verified: ${v.records} records, ${v.lanes.length} lane${v.lanes.length === 1 ? '' : 's'}${v.epoch ? `, epoch ${v.epoch.epoch}` : ''}\n` +
      `candidate policies: ${result.policies.join(', ')} (set ${shortHash(result.policySetSha256)}); declarations: ${result.declarationsFrom}\n` +
      `decisions: ${result.decisions}, replayed ${result.replayed}, unchanged ${result.unchanged}, changed ${result.changed}, ` +
      `not replayable ${result.notReplayable} (request data not kept or past its retention), denied before policy ${result.deniedBeforePolicy}\n`,
  );
  if (result.groups.length === 0) return;
  ctx.out(
    `\n${table(
      ['AGENT', 'ACTION', 'REPLAYED', 'CHANGED', 'ALLOW>DENY', 'DENY>ALLOW', 'NOT REPLAYABLE'],
      result.groups.map((g) => [
        cell(g.agent),
        cell(g.action),
        String(g.replayed),
        String(g.changed),
        String(g.allowToDeny),
        String(g.denyToAllow),
        String(g.notReplayable),
      ]),
    )}`,
  );
  const changes = result.groups.flatMap((g) => g.changes);
  if (changes.length > 0) {
    ctx.out(
      `\n${table(
        ['RECORD', 'WAS', 'NOW', 'REASON'],
        changes.map((c) => [c.id, c.was, c.now, cell(c.reason)]),
      )}`,
    );
  }
}
