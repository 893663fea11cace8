/**
 * What the chain verifier (core/verify/ChainVerifier.ts) reports: its stable finding codes, a finding, the
 * report of one chain, and the step each code is found at, which orders one entry's findings as the steps
 * run (the steps are listed in ChainVerifier.ts's opening comment). The audit verifier orders its lane
 * findings by the same table ({@link verificationStep}).
 */

/** Stable finding codes; tests and the CLI map on these, never on message text. */
export const VERIFICATION_CODES = [
  'PARSE_ERROR',
  'SCHEMA_INVALID',
  'NOT_CANONICAL',
  'HASH_MISMATCH',
  'CHAIN_NAME_MISMATCH',
  'SEQ_GAP',
  'SEQ_DUPLICATE',
  'SEQ_OUT_OF_ORDER',
  'LINK_BROKEN',
  'UNKNOWN_SIGNING_KEY',
  'KEY_ID_MISMATCH',
  'SESSION_KEY_OUTSIDE_WINDOW',
  'SIGNATURE_INVALID',
  'CERTIFICATE_NOT_ROOT_SIGNED',
  'CERTIFICATE_INVALID',
  'KEYS_CERTIFICATE_INVALID',
  'EMPTY_LOG',
  'NO_TRUSTED_KEYS',
] as const;

export type VerificationCode = (typeof VERIFICATION_CODES)[number];

export interface VerificationFinding {
  code: VerificationCode;
  /** The seq of the record at `line` (when it could be read), null otherwise. */
  seq: number | null;
  /** 1-based position of the entry in the input (line of a JSONL file, element of an array); 0 for the log as a whole. */
  line: number;
  message: string;
}

export interface VerificationReport {
  /** True when there is no finding at all. */
  ok: boolean;
  /** Entries examined (blank lines are not entries). */
  records: number;
  /** seq of the first record placed in the sequence (normally the first record). */
  firstSeq: number | null;
  /** Highest seq reached in order: where the verified chain ends. */
  lastSeq: number | null;
  /** `current_hash` of the record at `lastSeq`: the `expectPrevious` of a later suffix. */
  headHash: string | null;
  /** Key ids that verified at least one signature, in order of first use. */
  keysUsed: string[];
  /** In input order (then step order within an entry). */
  findings: VerificationFinding[];
}

/** The verification step a code is found at (0 for codes of no step), to order one entry's findings. */
export function verificationStep(code: string): number {
  return (STEP as Partial<Record<string, number>>)[code] ?? 0;
}

/** Step of each code, to order the findings of one entry as the steps run. */
const STEP: Record<VerificationCode, number> = {
  EMPTY_LOG: 0,
  NO_TRUSTED_KEYS: 0,
  PARSE_ERROR: 1,
  SCHEMA_INVALID: 1,
  NOT_CANONICAL: 1,
  HASH_MISMATCH: 2,
  CHAIN_NAME_MISMATCH: 3,
  SEQ_GAP: 3,
  SEQ_DUPLICATE: 3,
  SEQ_OUT_OF_ORDER: 3,
  LINK_BROKEN: 4,
  UNKNOWN_SIGNING_KEY: 5,
  KEY_ID_MISMATCH: 5,
  SESSION_KEY_OUTSIDE_WINDOW: 5,
  SIGNATURE_INVALID: 5,
  CERTIFICATE_NOT_ROOT_SIGNED: 6,
  CERTIFICATE_INVALID: 6,
  KEYS_CERTIFICATE_INVALID: 0,
};
