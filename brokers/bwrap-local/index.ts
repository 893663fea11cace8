export type { BwrapBackendOptions, BwrapSpec } from './BwrapBroker.js';
export {
  BWRAP_ACTION,
  bwrapArgv,
  bwrapBackend,
  createBwrapBroker,
  DEFAULT_BWRAP_TIMEOUT_MS,
  validateBwrapSpec,
} from './BwrapBroker.js';
