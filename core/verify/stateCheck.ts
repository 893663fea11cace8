import { logOriginOf } from '../log/checkpoint.js';
import type { ParsedEpochNote } from '../log/epoch.js';
import { EMPTY_ROOT } from '../log/merkle.js';
import { MAIN_LANE } from '../model/records.js';
import type { AuditState } from './signedStatements.js';
import type { RememberedLog } from './verifierState.js';

/**
 * Step 11 of the audit verifier (core/verify/AuditVerifier.ts): the input against the verifier's memory
 * (`zt-audit verify --state`, core/verify/verifierState.ts), the newest statement a previous valid run accepted.
 * An older epoch (`STATE_ROLLBACK`), one that does not extend it (`STATE_INCONSISTENT`), or another log's
 * (`STATE_ORIGIN_MISMATCH`) is tamper evidence. And what a valid run leaves to remember.
 */

/** Step 11: the input against what a previous valid run accepted. */
export function checkState(
  state: AuditState,
  remembered: RememberedLog,
  newest: ParsedEpochNote | null,
  newestTime: string | null,
): void {
  const current = newest
    ? { origin: newest.origin, lanes: newest.lanes }
    : (() => {
        const main = state.checkpoints.filter((c) => c.lane === MAIN_LANE).sort((a, b) => b.size - a.size)[0];
        return main
          ? {
              origin: logOriginOf(main.origin),
              lanes: [{ lane: main.lane, size: main.size, root: main.root }],
            }
          : null;
      })();
  const say =
    remembered.epoch !== null
      ? `epoch ${remembered.epoch}`
      : `a checkpoint of ${remembered.lanes[0]?.size ?? 0} records`;
  if (current === null) {
    state.finding(
      'STATE_ROLLBACK',
      null,
      null,
      0,
      `the verifier remembers ${say} of \`${remembered.origin}\`, and this input carries no newer signed statement`,
      11,
    );
    return;
  }
  if (current.origin !== remembered.origin) {
    state.finding(
      'STATE_ORIGIN_MISMATCH',
      null,
      null,
      0,
      `the state file remembers the log \`${remembered.origin}\`, this input is of \`${current.origin}\`: another log, or another state file`,
      11,
    );
    return;
  }
  if (remembered.epoch !== null) {
    if (newest === null || newest.epoch < remembered.epoch) {
      state.finding(
        'STATE_ROLLBACK',
        null,
        null,
        0,
        `the verifier accepted epoch ${remembered.epoch} (signed ${remembered.time}); this input's newest is ${newest ? `epoch ${newest.epoch} (signed ${newest.time})` : 'no epoch'}: the log was rolled back to an older genuine statement`,
        11,
      );
      return;
    }
    if (newest.epoch === remembered.epoch && newest.body !== parseNoteBody(remembered.note)) {
      state.finding(
        'STATE_INCONSISTENT',
        null,
        null,
        0,
        `epoch ${newest.epoch} of this input differs from the epoch ${remembered.epoch} the verifier accepted: the log forked`,
        11,
      );
      return;
    }
  }
  if (
    remembered.time !== null &&
    (newestTime === null || Date.parse(newestTime) < Date.parse(remembered.time))
  ) {
    state.finding(
      'STATE_ROLLBACK',
      null,
      null,
      0,
      `the verifier accepted a statement signed ${remembered.time}; this input's newest was signed ${newestTime ?? 'at no known time'}: an older statement`,
      11,
    );
    return;
  }
  for (const before of remembered.lanes) {
    const now = current.lanes.find((l) => l.lane === before.lane);
    if (now === undefined || now.size < before.size) {
      state.finding(
        'STATE_ROLLBACK',
        before.lane,
        null,
        0,
        `the verifier accepted lane \`${before.lane}\` at ${before.size} records; this input's newest statement signs ${now?.size ?? 'none'}: the lane was rolled back`,
        11,
      );
      continue;
    }
    const lane = state.lanes.get(before.lane);
    const root = before.size === 0 ? EMPTY_ROOT.toString('base64') : lane?.rootsAt.get(before.size);
    const mismatch =
      now.size === before.size
        ? now.root !== before.root
        : root !== undefined && root !== null && root !== before.root;
    if (mismatch) {
      state.finding(
        'STATE_INCONSISTENT',
        before.lane,
        before.size,
        0,
        `lane \`${before.lane}\`'s first ${before.size} records are not those the verifier accepted earlier: the lane was rewritten`,
        11,
      );
    }
  }
}

/**
 * What `--state` should remember of a valid run: the newest epoch (or, for a log from before epochs, the
 * newest checkpoint of `main`); null when there is none.
 */
export function rememberedOf(state: AuditState): RememberedLog | null {
  const newest = [...state.epochs].sort((a, b) => b.epoch - a.epoch)[0];
  if (newest !== undefined) {
    return {
      origin: newest.origin,
      epoch: newest.epoch,
      time: newest.time,
      lanes: newest.lanes,
      note: noteOf(newest),
    };
  }
  // A log from before epochs: its newest checkpoint of `main`.
  const main = state.checkpoints.filter((c) => c.lane === MAIN_LANE).sort((a, b) => b.size - a.size)[0];
  if (main === undefined) return null;
  return {
    origin: logOriginOf(main.origin),
    epoch: null,
    time: main.time,
    lanes: [{ lane: main.lane, size: main.size, root: main.root }],
    note: main.note,
  };
}

/** The signed note of a verified epoch (its text and signature lines), as `rememberedOf` keeps it. */
function noteOf(epoch: ParsedEpochNote): string {
  return `${epoch.body}\n${epoch.signatures.map((s) => `\u2014 ${s.keyName} ${Buffer.concat([s.keyId, s.signature]).toString('base64')}`).join('\n')}\n`;
}

/** The text of a note (before its blank line). */
function parseNoteBody(note: string): string {
  return note.slice(0, note.lastIndexOf('\n\n') + 1);
}
