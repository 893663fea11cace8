import { fromIni, fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { GatewayError } from './errors.js';
import type { AwsCredentials } from './signer.js';

/** A function that yields credentials, like every AWS SDK credential provider. */
export type CredentialProvider = () => Promise<AwsCredentials>;

/** Where credentials come from; the first one given wins, in this order. */
export interface CredentialSource {
  /** Explicit keys, or an AWS credential provider function (`fromIni()`, `fromTemporaryCredentials()`, ...). */
  credentials?: AwsCredentials | CredentialProvider;
  /** A profile of the shared credentials/config files. */
  profile?: string;
  /** The shared credentials file for `profile`; defaults to `AWS_SHARED_CREDENTIALS_FILE`, then `~/.aws/credentials`. */
  credentialsFile?: string;
}

/** Temporary credentials are refreshed this long before they expire. */
const REFRESH_MARGIN_MS = 5 * 60_000;

/**
 * Builds a memoizing credential provider from a {@link CredentialSource}: explicit keys, a provider
 * function, a named profile (`fromIni`, which honours `AWS_SHARED_CREDENTIALS_FILE`), or else the AWS default
 * chain (`fromNodeProviderChain`: environment, shared files, SSO, web identity, container and instance metadata).
 * Credentials with an `expiration` are fetched again shortly before they expire.
 * Failures reject with a {@link GatewayError} `CREDENTIALS_UNAVAILABLE`.
 */
export function credentialProvider(source: CredentialSource = {}): CredentialProvider {
  const { credentials } = source;
  if (credentials !== undefined && typeof credentials !== 'function') {
    const fixed = checkCredentials(credentials, 'the given credentials');
    return async () => fixed;
  }
  let inner: () => Promise<unknown>;
  let origin: string;
  if (typeof credentials === 'function') {
    inner = credentials;
    origin = 'the credential provider';
  } else if (source.profile !== undefined) {
    // ignoreCache: the emulator appends agent profiles while we run; never serve a stale parse of the file.
    inner = fromIni({
      profile: source.profile,
      ignoreCache: true,
      ...(source.credentialsFile !== undefined ? { filepath: source.credentialsFile } : {}),
    });
    origin = `profile \`${source.profile}\`${source.credentialsFile !== undefined ? ` in \`${source.credentialsFile}\`` : ''}`;
  } else {
    inner = fromNodeProviderChain();
    origin = 'the default AWS credential chain';
  }

  let cached: AwsCredentials | undefined;
  let pending: Promise<AwsCredentials> | undefined;
  return async () => {
    if (cached && !expiresSoon(cached)) return cached;
    pending ??= (async () => {
      try {
        let resolved: unknown;
        try {
          resolved = await inner();
        } catch (err) {
          const why = err instanceof Error ? err.message : String(err);
          throw new GatewayError(
            'CREDENTIALS_UNAVAILABLE',
            `cannot load credentials from ${origin}: ${why}`,
            {
              cause: err,
            },
          );
        }
        cached = checkCredentials(resolved, origin);
        return cached;
      } finally {
        pending = undefined;
      }
    })();
    return pending;
  };
}

/** Resolves credentials once from a {@link CredentialSource}. */
export async function resolveCredentials(source: CredentialSource = {}): Promise<AwsCredentials> {
  return credentialProvider(source)();
}

function expiresSoon(creds: AwsCredentials): boolean {
  return creds.expiration !== undefined && creds.expiration.getTime() - Date.now() < REFRESH_MARGIN_MS;
}

function checkCredentials(value: unknown, origin: string): AwsCredentials {
  const v = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const { accessKeyId, secretAccessKey, sessionToken, expiration } = v;
  if (
    typeof accessKeyId !== 'string' ||
    accessKeyId === '' ||
    typeof secretAccessKey !== 'string' ||
    secretAccessKey === ''
  ) {
    throw new GatewayError(
      'CREDENTIALS_UNAVAILABLE',
      `${origin} did not yield credentials: expected \`accessKeyId\` and \`secretAccessKey\` strings`,
    );
  }
  const out: AwsCredentials = { accessKeyId, secretAccessKey };
  if (typeof sessionToken === 'string' && sessionToken !== '') out.sessionToken = sessionToken;
  if (expiration instanceof Date) out.expiration = expiration;
  return out;
}
