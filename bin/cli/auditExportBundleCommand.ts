import { GatewayError } from '../../sdk/errors.js';
import { BundleStateError, exportAuditBundle } from './auditBundleExport.js';
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
  const afterArg = ctx.values['after'];
  let after: number | undefined;
  if (typeof afterArg === 'string') {
    if (!/^(0|[1-9][0-9]{0,15})$/.test(afterArg)) {
      throw new UsageError(`\`--after\` must be a seq (an integer >= 0), got \`${afterArg}\``);
    }
    after = Number(afterArg);
  }
  const dir = ctx.resolvePath(dirArg);
  const progress = ctx.stderrIsTTY
    ? (n: number, total: number) => ctx.err(`\rzt: exporting ${bar(n, total)}`)
    : undefined;
  let result: Awaited<ReturnType<typeof exportAuditBundle>>;
  try {
    result = await exportAuditBundle(ctx.client, {
      dir,
      ...(after !== undefined ? { after } : {}),
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
    `exported ${result.appended} records to ${dirArg} (${result.records} in the bundle, checkpoint ${result.checkpointSize})\n` +
      `verify it with: zt-audit verify --bundle ${dirArg} --public-key ROOT.pem\n`,
  );
}
