export type { NonoBackendOptions, NonoFlags, NonoNetwork, NonoSpec } from './NonoBroker.js';
export {
  createNonoBroker,
  DEFAULT_NONO_FLAGS,
  NONO_ACTION,
  nonoArgs,
  nonoBackend,
  validateNonoSpec,
} from './NonoBroker.js';
