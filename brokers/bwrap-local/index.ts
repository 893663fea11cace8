export type { BwrapBackendOptions, BwrapInput, BwrapSpec } from './BwrapBroker.js';
export {
  BWRAP_ACTION,
  BWRAP_PARAMS_SHAPE,
  bwrapBackend,
  createBwrapBroker,
  DEFAULT_BWRAP_TIMEOUT_MS,
  validateBwrapSpec,
} from './BwrapBroker.js';
export type { BwrapInvocation, BwrapLaunch, BwrapRun, SandboxUser } from './bwrapInvocation.js';
export { bwrapInvocation } from './bwrapInvocation.js';
export { sandboxStatusProblems } from './sandboxStatus.js';
