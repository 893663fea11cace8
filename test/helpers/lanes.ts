import type { AppendedRecord, LaneSigner, LaneWriter } from '../../core/LaneWriter.js';
import type { Signer } from '../../core/ports.js';
import type { KindFields } from '../../core/records.js';

/** A signer for tests that want plain records: every record signed by `signer`, no certificates. */
export function staticSigner(signer: Signer): LaneSigner {
  return { certificateFor: async () => null, signerFor: async () => signer };
}

/** Appends fixed kind fields. */
export function appendFields(
  writer: LaneWriter,
  fields: KindFields,
  principalArn: string,
): Promise<AppendedRecord> {
  return writer.append({ build: () => fields, principalArn });
}
