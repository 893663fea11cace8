import { BundleStateError, exportAuditBundle } from '../../audit/exportBundle.js';
import { GatewayError } from '../../sdk/errors.js';
import { type CommandContext, LocalFileError, UsageError } from './commands.js';

function bar(done: number, total: number): string {
  const share = total === 0 ? 1 : Math.min(1, done / total);
  const filled = Math.round(share * 30);
  return `[${'#'.repeat(filled)}${'-'.repeat(30 - filled)}] ${done}/${total} records`;
}

/** `zt audit export --bundle DIR [--after SEQ]`: the CLI side of {@link exportAuditBundle}. */
export async function exportBundleCommand(
  ctx: CommandContext,
  dirArg: string,
  pageSize: number | undefined,
): Promise<void> {
  const afterArgs = ctx.values['after'];
  const after = new Map<string, number>();
  for (const arg of Array.isArray(afterArgs) ? afterArgs : typeof afterArgs === 'string' ? [afterArgs] : []) {
    const match = /^(?:([A-Za-z0-9][A-Za-z0-9._-]{0,63})=)?(0|[1-9][0-9]{0,15})$/.exec(arg);
    if (!match) {
      throw new UsageError(`\`--after\` must be SEQ or LANE=SEQ (an integer >= 0), got \`${arg}\``);
    }
    const lane = match[1] ?? 'main';
    if (after.has(lane)) throw new UsageError(`\`--after\` names lane \`${lane}\` twice`);
    after.set(lane, Number(match[2]));
  }
  const resume = ctx.values['resume'] === true || after.size > 0;
  const requests = ctx.values['requests'] === true;
  if (requests && resume) {
    throw new UsageError(
      '`--requests` exports the kept requests whole: it does not go with `--resume` or `--after`',
    );
  }
  const dir = ctx.resolvePath(dirArg);
  const progress = ctx.stderrIsTTY
    ? (n: number, total: number) => ctx.err(`\rzt: exporting ${bar(n, total)}`)
    : undefined;
  let result: Awaited<ReturnType<typeof exportAuditBundle>>;
  try {
    result = await exportAuditBundle(ctx.client, {
      dir,
      ...(after.size > 0 ? { after } : {}),
      resume,
      ...(requests ? { requests } : {}),
      ...(pageSize !== undefined ? { pageSize } : {}),
      ...(progress !== undefined ? { onProgress: progress } : {}),
    });
  } catch (err) {
    if (err instanceof BundleStateError) throw new LocalFileError(err.message);
    if (err instanceof Error && !(err instanceof GatewayError)) {
      const code = (err as Error & { code?: unknown }).code;
      if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
        throw new LocalFileError(`cannot write the bundle \`${dirArg}\`: ${err.message}`);
      }
    }
    throw err;
  } finally {
    if (progress !== undefined) ctx.err('\n');
  }
  if (ctx.json) {
    ctx.out(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  ctx.out(
    `exported ${result.appended} records to ${dirArg} (${result.records} in the bundle, ${result.lanes.length} lane${result.lanes.length === 1 ? '' : 's'}${result.epoch !== null ? `, epoch ${result.epoch}` : ''}${result.requests !== null ? `, ${result.requests} kept requests` : ''})\n` +
      `verify it with: zt-audit verify --bundle ${dirArg} --public-key ROOT.pem\n`,
  );
}
