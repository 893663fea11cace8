import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { compareLanes } from '../core/log/index.js';
import { LANE_NAME_PATTERN, MAIN_LANE } from '../core/model/index.js';
import { BUNDLE_FILES } from '../core/verify/index.js';
import { AuditInputError } from './auditFiles.js';

/**
 * The layout of an audit bundle (`zt audit export --bundle DIR`):
 *
 *     DIR/checkpoint.json        the `GET /audit/checkpoint` body: the epoch and every lane's checkpoint
 *     DIR/keys.json              the `GET /keys` body
 *     DIR/lanes/<lane>.jsonl     each lane's records, exactly as served, in seq order
 *
 * A bundle from before lanes holds `DIR/records.jsonl` instead of `lanes/`: the `main` lane. A directory
 * holding both is refused (which one is the log would be a guess).
 */
export interface BundleLayout {
  dir: string;
  /** Each lane's file, sorted by lane name. */
  lanes: Array<{ lane: string; path: string }>;
  /** `records.jsonl` (the layout before lanes) rather than `lanes/`. */
  legacy: boolean;
  checkpoint: string | null;
  keys: string | null;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The file name of a lane in `lanes/`. */
export function laneFileName(lane: string): string {
  return `${lane}.jsonl`;
}

/** Reads a bundle's layout. Throws `AuditInputError` when `dir` is no bundle. */
export async function readBundleLayout(dir: string): Promise<BundleLayout> {
  const lanesDir = join(dir, BUNDLE_FILES.lanes);
  const legacyFile = join(dir, BUNDLE_FILES.records);
  const hasLanes = await exists(lanesDir);
  const hasLegacy = await exists(legacyFile);
  if (hasLanes && hasLegacy) {
    throw new AuditInputError(
      `\`${dir}\` holds both ${BUNDLE_FILES.records} and ${BUNDLE_FILES.lanes}/: export the bundle again`,
    );
  }
  if (!hasLanes && !hasLegacy) {
    throw new AuditInputError(
      `\`${dir}\` is not a bundle: it has neither ${BUNDLE_FILES.lanes}/ nor ${BUNDLE_FILES.records}`,
    );
  }
  const lanes: BundleLayout['lanes'] = [];
  if (hasLegacy) {
    lanes.push({ lane: MAIN_LANE, path: legacyFile });
  } else {
    let names: string[];
    try {
      names = await readdir(lanesDir);
    } catch (e) {
      throw new AuditInputError(
        `cannot read \`${lanesDir}\` (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
      );
    }
    for (const name of names) {
      const lane = name.endsWith('.jsonl') ? name.slice(0, -'.jsonl'.length) : '';
      if (!LANE_NAME_PATTERN.test(lane)) {
        throw new AuditInputError(
          `\`${join(lanesDir, name)}\` is not a lane file: ${BUNDLE_FILES.lanes}/ holds only <lane>.jsonl files`,
        );
      }
      lanes.push({ lane, path: join(lanesDir, name) });
    }
    lanes.sort((a, b) => compareLanes(a.lane, b.lane));
  }
  const checkpoint = join(dir, BUNDLE_FILES.checkpoint);
  const keys = join(dir, BUNDLE_FILES.keys);
  return {
    dir,
    lanes,
    legacy: hasLegacy,
    checkpoint: (await exists(checkpoint)) ? checkpoint : null,
    keys: (await exists(keys)) ? keys : null,
  };
}
