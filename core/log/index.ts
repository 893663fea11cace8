/**
 * core/log: The hash-chained log: lane writing (leases, fences, batched appends), RFC 6962 Merkle trees, C2SP
 * checkpoints and epoch statements, the checkpointer that signs them, and the audit read routes.
 * What the rest of the project uses from this folder; anything not listed here is internal to it.
 */

export type { LogCheckpoint } from './Checkpointer.js';
export { Checkpointer, checkpointPartition, heartbeatPartition, merklePartition } from './Checkpointer.js';
export type { Checkpoint, CheckpointVerification } from './checkpoint.js';
export {
  checkpointOrigin,
  laneOfOrigin,
  logOriginOf,
  parseCheckpointNote,
  signCheckpoint,
  verifyCheckpoint,
} from './checkpoint.js';
export type { ParsedEpochNote } from './epoch.js';
export { compareLanes, isEpochBody, parseEpochNote, signEpoch, verifyEpoch } from './epoch.js';
export { AppendRefusedError, LaneWriter } from './LaneWriter.js';
export {
  CompactRange,
  EMPTY_ROOT,
  HASH_SIZE,
  leafHash,
  rootFromLeaves,
  verifyConsistency,
  verifyInclusion,
} from './merkle.js';
export type { CheckpointFailureCode } from './signedNote.js';
export { CheckpointMalformedError, verifyNoteSignatures } from './signedNote.js';
