export type {
  NonoBackendOptions,
  NonoFlags,
  NonoInput,
  NonoNetwork,
  NonoNetworkInput,
  NonoSpec,
} from './NonoBroker.js';
export {
  createNonoBroker,
  DEFAULT_NONO_FLAGS,
  NONO_ACTION,
  NONO_PARAMS_SHAPE,
  nonoArgs,
  nonoBackend,
  validateNonoSpec,
} from './NonoBroker.js';
