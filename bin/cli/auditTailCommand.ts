import { setTimeout as sleep } from 'node:timers/promises';
import { MAIN_LANE } from '../../core/model/index.js';
import { type CommandContext, EXIT, UsageError } from './commands.js';
import { cell } from './format.js';

type Row = Record<string, unknown>;

/** Records read back per lane at most, looking for the newest matches (filters can make them rare). */
const MAX_SCAN_PER_LANE = 20_000;
const PAGE = 1000;
/** Polls between two reads of the lane list (`GET /audit/checkpoint` signs, so it is not asked every poll). */
const LANE_REFRESH_POLLS = 15;
/** Pages read per lane in one poll, so one busy lane cannot hold the loop. */
const MAX_PAGES_PER_POLL = 10;

interface Filter {
  agent?: string;
  action?: string;
  decision?: 'allow' | 'deny';
  shadowDiff: boolean;
}

/**
 * `zt audit tail`: the newest records of every lane for a human (or as JSON Lines), filtered, and with
 * `--follow` the new ones as they come, polling `GET /audit` per lane. Read-only: the log is not changed
 * (the lane list comes from `GET /audit/checkpoint`, which signs a checkpoint when the log has grown).
 */
export async function auditTail(ctx: CommandContext): Promise<number> {
  const str = (name: string) =>
    typeof ctx.values[name] === 'string' ? (ctx.values[name] as string) : undefined;
  const count = integerFlag(str('lines'), '-n', 1, 10_000, 20);
  const intervalMs = integerFlag(str('interval'), '--interval', 200, 60_000, 2000);
  if (str('interval') !== undefined && ctx.values['follow'] !== true) {
    throw new UsageError('`--interval` goes with `--follow`');
  }
  const decision = str('decision');
  if (decision !== undefined && decision !== 'allow' && decision !== 'deny') {
    throw new UsageError(`\`--decision\` must be \`allow\` or \`deny\`, got \`${decision}\``);
  }
  const filter: Filter = {
    ...(str('agent') !== undefined ? { agent: str('agent') as string } : {}),
    ...(str('action') !== undefined ? { action: str('action') as string } : {}),
    ...(decision !== undefined ? { decision } : {}),
    shadowDiff: ctx.values['shadow-diff'] === true,
  };
  const stats = { decisions: 0, differ: 0 };
  const tally = (record: Row) => {
    if (record['kind'] !== 'decision') return;
    stats.decisions++;
    if (shadowDiffers(record)) stats.differ++;
  };
  const show = (record: Row) => {
    if (!matches(record, filter)) return;
    ctx.out(ctx.json ? `${JSON.stringify(record)}\n` : formatRecord(record, filter.shadowDiff));
  };

  // The newest matching records: each lane read backwards from its head until it has `count` of them.
  const cursors = new Map<string, number>();
  const newest: Row[] = [];
  for (const { lane, size } of await lanesOf(ctx)) {
    cursors.set(lane, size);
    newest.push(...(await newestOfLane(ctx, lane, size, count, filter, tally)));
  }
  newest.sort(byTime);
  for (const record of newest.slice(-count)) show(record);

  if (ctx.values['follow'] === true) {
    const stop = new AbortController();
    const onSigint = () => stop.abort();
    ctx.signal?.addEventListener('abort', onSigint, { once: true });
    if (ctx.signal === undefined) process.once('SIGINT', onSigint);
    try {
      for (let poll = 1; !stop.signal.aborted; poll++) {
        try {
          await sleep(intervalMs, undefined, { signal: stop.signal });
        } catch {
          break; // interrupted
        }
        if (poll % LANE_REFRESH_POLLS === 0) {
          for (const { lane } of await lanesOf(ctx)) if (!cursors.has(lane)) cursors.set(lane, 0);
        }
        const fresh: Row[] = [];
        for (const [lane, after] of cursors) {
          let cursor = after;
          for (let i = 0; i < MAX_PAGES_PER_POLL; i++) {
            const page = await ctx.client.auditPage({ lane, after: cursor, limit: PAGE });
            for (const record of page.records as unknown as Row[]) {
              tally(record);
              fresh.push(record);
              cursor = Math.max(cursor, Number(record['seq']));
            }
            if (page.next === null) break;
          }
          cursors.set(lane, cursor);
        }
        fresh.sort(byTime);
        for (const record of fresh) show(record);
      }
    } finally {
      if (ctx.signal === undefined) process.off('SIGINT', onSigint);
    }
  }
  if (filter.shadowDiff) {
    if (ctx.json)
      ctx.out(`${JSON.stringify({ shadowDiff: { differ: stats.differ, decisions: stats.decisions } })}\n`);
    else
      ctx.out(
        `${stats.differ} of ${stats.decisions} decision${stats.decisions === 1 ? '' : 's'} read ${stats.differ === 1 ? 'differs' : 'differ'} from its shadow decision\n`,
      );
  }
  return EXIT.OK;
}

async function lanesOf(ctx: CommandContext): Promise<Array<{ lane: string; size: number }>> {
  const checkpoint = await ctx.client.checkpoint();
  const lanes = checkpoint.epoch?.lanes;
  if (Array.isArray(lanes) && lanes.length > 0) return lanes.map((l) => ({ lane: l.lane, size: l.size }));
  return [{ lane: MAIN_LANE, size: checkpoint.size }];
}

/** Up to `count` of the newest records of `lane` (up to seq `size`) that match, read backwards page by page. */
async function newestOfLane(
  ctx: CommandContext,
  lane: string,
  size: number,
  count: number,
  filter: Filter,
  tally: (record: Row) => void,
): Promise<Row[]> {
  const found: Row[] = [];
  let end = size;
  let scanned = 0;
  while (end > 0 && found.length < count && scanned < MAX_SCAN_PER_LANE) {
    const start = Math.max(0, end - PAGE);
    const page = await ctx.client.auditPage({ lane, after: start, limit: end - start });
    const records = (page.records as unknown as Row[]).filter((r) => Number(r['seq']) <= end);
    scanned += records.length;
    for (const r of records) tally(r);
    found.unshift(...records.filter((r) => matches(r, filter)));
    if (records.length === 0) break;
    end = start;
  }
  return found.slice(-count);
}

function matches(record: Row, filter: Filter): boolean {
  const isDecision = record['kind'] === 'decision';
  if (filter.agent !== undefined) {
    const agent = isDecision ? record['actor'] : record['kind'] === 'agent' ? record['agent_id'] : undefined;
    if (agent !== filter.agent) return false;
  }
  if (filter.action !== undefined && !(isDecision && record['action'] === filter.action)) return false;
  if (filter.decision !== undefined && !(isDecision && record['decision'] === filter.decision)) return false;
  if (filter.shadowDiff && !shadowDiffers(record)) return false;
  return true;
}

function shadowDiffers(record: Row): boolean {
  const shadow = record['shadow'];
  return (
    record['kind'] === 'decision' &&
    typeof shadow === 'object' &&
    shadow !== null &&
    (shadow as Row)['decision'] !== record['decision']
  );
}

function byTime(a: Row, b: Row): number {
  const ta = String(a['timestamp'] ?? '');
  const tb = String(b['timestamp'] ?? '');
  if (ta !== tb) return ta < tb ? -1 : 1;
  const la = String(a['chain'] ?? '');
  const lb = String(b['chain'] ?? '');
  if (la !== lb) return la < lb ? -1 : 1;
  return Number(a['seq']) - Number(b['seq']);
}

/** One line: time, lane/seq, agent, action, decision, reason (other kinds say what they record). */
export function formatRecord(record: Row, withShadow: boolean): string {
  const where = `${cell(record['chain'])}/${cell(record['seq'])}`;
  const head = `${cell(record['timestamp'])}  ${where.padEnd(10)}`;
  switch (record['kind']) {
    case 'decision': {
      const shadow = record['shadow'] as Row | undefined;
      const tail =
        withShadow && shadow !== undefined
          ? `  (shadow: ${cell(shadow['decision'])}: ${cell(shadow['reason'])})`
          : '';
      return `${head}  ${cell(record['actor']).padEnd(16)}  ${cell(record['action']).padEnd(28)}  ${cell(record['decision']).padEnd(5)}  ${cell(record['reason'])}${tail}\n`;
    }
    case 'outcome':
      return `${head}  outcome ${cell(record['status'])} of ${cell(record['decision_id'])}\n`;
    case 'agent':
      return `${head}  agent ${cell(record['change'])} ${cell(record['agent_id'])}\n`;
    case 'policy':
      return `${head}  policy ${cell(record['change'])} ${cell(record['policy_id'])}\n`;
    default:
      return `${head}  ${cell(record['kind'])}\n`;
  }
}

function integerFlag(
  text: string | undefined,
  flag: string,
  min: number,
  max: number,
  fallback: number,
): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`\`${flag}\` must be an integer from ${min} to ${max}, got \`${text}\``);
  }
  return value;
}
