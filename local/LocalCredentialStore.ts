import { randomBytes } from 'node:crypto';
import { chmod, readFile, rename, writeFile } from 'node:fs/promises';
import type { CredentialIssuer } from '../core/gateway/index.js';

export const LOCAL_ACCOUNT_ID = '000000000000';
export const ADMIN_PROFILE = 'zt-admin';
export const AGENT_PROFILE_PREFIX = 'zt-agent-';
/** Profiles of local approvers (`zt-local` with `ZT_APPROVERS`): principals that may approve, nothing else. */
export const APPROVER_PROFILE_PREFIX = 'zt-approver-';

export interface LocalIdentity {
  profile: string;
  accessKeyId: string;
  secretAccessKey: string;
  principalArn: string;
}

/** The principal ARN the emulator gives a profile: an IAM user named after it in account 000000000000. */
export function principalForProfile(profile: string): string {
  return `arn:aws:iam::${LOCAL_ACCOUNT_ID}:user/${profile}`;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function newAccessKeyId(): string {
  const bytes = randomBytes(16);
  let id = 'AKIA';
  for (const b of bytes) id += BASE32[b % 32];
  return id;
}

function newSecret(): string {
  return randomBytes(30).toString('base64');
}

/**
 * The emulator's credential store is an AWS shared-credentials file (mode 0600): the profile
 * `zt-admin` and one `zt-agent-<agentId>` profile per minted agent, so any AWS SDK or CLI can sign
 * requests for the emulator with `AWS_SHARED_CREDENTIALS_FILE` and `AWS_PROFILE`. Only profiles
 * with the `zt-` prefix are read or written; other profiles in the file are kept as they are.
 */
export class LocalCredentialStore implements CredentialIssuer {
  #byKey = new Map<string, LocalIdentity>();
  #byProfile = new Map<string, LocalIdentity>();
  #foreign: string[] = [];
  #writes: Promise<unknown> = Promise.resolve();

  private constructor(readonly path: string) {}

  /** Opens the file, creating it with a fresh admin profile when missing. */
  static async open(path: string): Promise<LocalCredentialStore> {
    const store = new LocalCredentialStore(path);
    let text: string | null = null;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (text !== null) store.#parse(text);
    if (!store.#byProfile.has(ADMIN_PROFILE)) {
      store.#add(ADMIN_PROFILE, newAccessKeyId(), newSecret());
      await store.#save();
    }
    return store;
  }

  get admin(): LocalIdentity {
    return this.#byProfile.get(ADMIN_PROFILE) as LocalIdentity;
  }

  /** Secret lookup for the SigV4 verifier. */
  lookup = async (accessKeyId: string): Promise<{ secretAccessKey: string } | null> => {
    const identity = this.#byKey.get(accessKeyId);
    return identity ? { secretAccessKey: identity.secretAccessKey } : null;
  };

  identityFor(accessKeyId: string): LocalIdentity | null {
    return this.#byKey.get(accessKeyId) ?? null;
  }

  /**
   * The approver profile `zt-approver-<name>`, minted (and written to the file) on first use and kept after:
   * an approver is a principal of its own, never an agent's.
   */
  async approver(name: string): Promise<LocalIdentity> {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) {
      throw new Error(`approver name must be 1-64 letters, digits, \`.\`, \`_\` or \`-\`, got \`${name}\``);
    }
    const profile = `${APPROVER_PROFILE_PREFIX}${name}`;
    const existing = this.#byProfile.get(profile);
    if (existing) return existing;
    const identity = this.#add(profile, newAccessKeyId(), newSecret());
    await this.#save();
    return identity;
  }

  /** Mints credentials for an agent and writes its profile to the file before returning. */
  async issue(
    agentId: string,
  ): Promise<{ principalArn: string; accessKeyId: string; secretAccessKey: string; profile: string }> {
    const profile = `${AGENT_PROFILE_PREFIX}${agentId}`;
    const old = this.#byProfile.get(profile);
    if (old) this.#byKey.delete(old.accessKeyId);
    const identity = this.#add(profile, newAccessKeyId(), newSecret());
    await this.#save();
    return { ...identity };
  }

  async revoke(agentId: string): Promise<void> {
    const profile = `${AGENT_PROFILE_PREFIX}${agentId}`;
    const identity = this.#byProfile.get(profile);
    if (!identity) return;
    this.#byProfile.delete(profile);
    this.#byKey.delete(identity.accessKeyId);
    await this.#save();
  }

  #add(profile: string, accessKeyId: string, secretAccessKey: string): LocalIdentity {
    const identity = { profile, accessKeyId, secretAccessKey, principalArn: principalForProfile(profile) };
    this.#byProfile.set(profile, identity);
    this.#byKey.set(accessKeyId, identity);
    return identity;
  }

  #parse(text: string): void {
    let section: string | null = null;
    let values: Record<string, string> = {};
    let foreignBlock: string[] = [];
    const flush = () => {
      if (section === null) return;
      if (section.startsWith('zt-')) {
        const key = values['aws_access_key_id'];
        const secret = values['aws_secret_access_key'];
        if (key && secret) this.#add(section, key, secret);
      } else {
        this.#foreign.push(foreignBlock.join('\n'));
      }
    };
    for (const line of text.split(/\r?\n/)) {
      const header = /^\s*\[([^\]]+)\]\s*$/.exec(line);
      if (header) {
        flush();
        section = (header[1] as string).trim();
        values = {};
        foreignBlock = [line];
        continue;
      }
      foreignBlock.push(line);
      const kv = /^\s*([A-Za-z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
      if (kv && section !== null) values[(kv[1] as string).toLowerCase()] = kv[2] as string;
    }
    flush();
  }

  #save(): Promise<void> {
    const run = this.#writes.then(async () => {
      const blocks = [...this.#byProfile.values()].map(
        (i) =>
          `[${i.profile}]\naws_access_key_id = ${i.accessKeyId}\naws_secret_access_key = ${i.secretAccessKey}\n`,
      );
      const text = `${[...this.#foreign.map((b) => `${b.trimEnd()}\n`), ...blocks].join('\n')}`;
      const tmp = `${this.path}.${process.pid}.tmp`;
      await writeFile(tmp, text, { mode: 0o600 });
      await rename(tmp, this.path);
      await chmod(this.path, 0o600);
    });
    this.#writes = run.catch(() => undefined);
    return run;
  }
}
