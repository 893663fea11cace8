import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..', '..');

/**
 * `bin/zt.ts` and the stdio files server bundled into ESM files (dependencies left as imports), so tests
 * run them as real child processes without depending on `dist/` (which another test may be rebuilding).
 * They live under `node_modules/.cache` so their imports resolve to this checkout's `node_modules`.
 */
export async function bundleMcpBinaries(): Promise<{
  zt: string;
  filesServer: string;
  remove: () => Promise<void>;
}> {
  const dir = join(root, 'node_modules', '.cache', 'zt-test-mcp', randomUUID());
  const options = {
    bundle: true,
    platform: 'node' as const,
    format: 'esm' as const,
    target: 'node20',
    packages: 'external' as const,
    logLevel: 'silent' as const,
  };
  const zt = join(dir, 'zt.mjs');
  const filesServer = join(dir, 'files-server.mjs');
  await Promise.all([
    build({ ...options, entryPoints: [join(root, 'bin', 'zt.ts')], outfile: zt }),
    build({
      ...options,
      entryPoints: [join(root, 'test', 'mcp', 'fixtures', 'filesServerStdio.ts')],
      outfile: filesServer,
    }),
  ]);
  return { zt, filesServer, remove: () => rm(dir, { recursive: true, force: true }) };
}
