/**
 * `zt-infra/local`: the emulator as a library, for tests and tools that start one in-process
 * (`npx zt-local` is the same thing as a command). {@link startEmulator} serves the gateway's handlers
 * behind SigV4 over the embedded SQLite store and a local root key in its data dir; the credential
 * constants name the profiles it writes. A plain list of re-exports: what is not listed here is internal.
 */

export type { RequestLogLine } from '../lambdas/http.js';
export type { Emulator, EmulatorOptions } from './emulator.js';
export { startEmulator } from './emulator.js';
export type { LocalIdentity } from './LocalCredentialStore.js';
export {
  ADMIN_PROFILE,
  AGENT_PROFILE_PREFIX,
  LOCAL_ACCOUNT_ID,
  LocalCredentialStore,
} from './LocalCredentialStore.js';
