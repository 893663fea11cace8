/**
 * Setup of the unit tier (`npm run test:unit`): a unit test runs no child process and opens no socket.
 * Each way to do either throws here, so a test that needs one fails in this tier and belongs to the
 * integration tier instead (vitest.config.ts, `UNIT`). Worker threads stay allowed (the verifier's pool
 * is in-process work).
 */
import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';

class UnitTierError extends Error {
  readonly code = 'UNIT_TIER_IO';
}

function refuse(what: string): never {
  throw new UnitTierError(`a unit test may not ${what}: move the file to the integration tier`);
}

for (const name of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'] as const) {
  (childProcess as unknown as Record<string, unknown>)[name] = () => refuse(`run a child process (${name})`);
}
net.Socket.prototype.connect = () => refuse('open a network connection');
net.Server.prototype.listen = () => refuse('listen on a socket');
// ESM importers of the built-ins (`import { spawn } from 'node:child_process'`) see the patched functions.
syncBuiltinESMExports();
