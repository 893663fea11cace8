import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';

/** Where the shared credentials file comes from, for `--verbose` and error messages. */
export interface CredentialsFileChoice {
  /** Absent: the AWS default (`~/.aws/credentials`). */
  path?: string;
  source: 'flag' | 'env' | 'data-dir' | 'default';
}

/**
 * The shared credentials file the CLI reads: `--credentials-file`, else `AWS_SHARED_CREDENTIALS_FILE`, else the
 * emulator's `aws-credentials` in `ZT_DATA_DIR` or `./.zt` when it exists, else the AWS default.
 * The convenience of the last two means `npx zt` just works next to `npm run local`.
 */
export function findCredentialsFile(
  flag: string | undefined,
  env: Record<string, string | undefined>,
  cwd: string,
): CredentialsFileChoice {
  if (flag !== undefined && flag !== '') return { path: absolute(flag, cwd), source: 'flag' };
  const fromEnv = env['AWS_SHARED_CREDENTIALS_FILE'];
  if (fromEnv !== undefined && fromEnv !== '') return { path: absolute(fromEnv, cwd), source: 'env' };
  const dataDir = env['ZT_DATA_DIR'];
  const candidate = join(
    absolute(dataDir !== undefined && dataDir !== '' ? dataDir : '.zt', cwd),
    'aws-credentials',
  );
  if (existsSync(candidate)) return { path: candidate, source: 'data-dir' };
  return { source: 'default' };
}

function absolute(path: string, cwd: string): string {
  return isAbsolute(path) ? path : resolve(cwd, path);
}
