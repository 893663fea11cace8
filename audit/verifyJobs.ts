/** The jobs, results and broadcasts of the verifier's worker pool (./verifyWorker.ts). */

/** A batch of stored lines (joined with `\n`; no line holds one), or ECDSA checks of parsed records. */
export type VerifyJob =
  | { kind: 'lines'; text: string }
  | { kind: 'signatures'; keyIds: string[]; payloads: string[]; signatures: string[] };

export type VerifyResult =
  /**
   * `entries`: JSON of one entry per line, the reduced record of a line that passed every independent step
   * or the line itself (to verify inline); `leaves`: 32 bytes per line, the RFC 6962 leaf hash of each
   * prepared line (zeros for the others).
   */
  | { kind: 'lines'; entries: string; leaves: Uint8Array }
  /** 1 where the signature verified with the named key, 0 where not (or the key is unknown to the worker). */
  | { kind: 'signatures'; valid: Uint8Array };

/** A key every worker should know, announced before the lines or checks that use it. */
export interface VerifyKey {
  keyId: string;
  pem: string;
}

export interface VerifyWorkerData {
  /** SPKI PEM root keys (the verifier's trust anchor; workers only use them to check). */
  roots: string[];
}
