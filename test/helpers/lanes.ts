import type { AppendedRecord, LaneWriter } from '../../core/log/LaneWriter.js';
import type { KindFields } from '../../core/model/records.js';
import type { LaneSigner, Signer } from '../../core/ports/ports.js';

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
