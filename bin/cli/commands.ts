import { exportAudit, streamAudit } from '../../audit/exportAudit.js';
import { OcsfMappingError } from '../../audit/ocsf.js';
import { GatewayError } from '../../sdk/errors.js';
import type {
  AgentAttributeValue,
  GatewayClient,
  GatewayClientOptions,
  RegisterAgentInput,
} from '../../sdk/GatewayClient.js';
import { exportBundleCommand } from './auditExportBundleCommand.js';
import { cell, fields, shortHash, table } from './format.js';
import { policiesReplayCommand } from './policiesReplayCommand.js';
import { listedRootPublicKeys, localRootPublicKey } from './rootPublicKey.js';

/**
 * Exit statuses of `zt`: 0 ok, 1 the gateway refused (or a policy test failed), 2 usage or local file
 * error, 3 the gateway cannot be reached or there are no credentials, 4 `zt decide` was answered deny,
 * 5 `zt decide` got an answer that does not verify.
 */
export const EXIT = { OK: 0, REFUSED: 1, USAGE: 2, UNREACHABLE: 3, DENIED: 4, UNVERIFIED: 5 } as const;

/** What a command gets: its client, its arguments, where to write, and how. */
export interface CommandContext {
  client: GatewayClient;
  positionals: string[];
  values: Record<string, string | boolean | string[] | undefined>;
  json: boolean;
  out: (text: string) => void;
  err: (text: string) => void;
  stderrIsTTY: boolean;
  /** Reads a file (or stdin for `-`) as UTF-8 text. */
  readInput: (path: string) => Promise<string>;
  /** Resolves a path against the CLI's working directory. */
  resolvePath: (path: string) => string;
  /** The credentials file in use, for the note after `agents register`. */
  credentialsFile: string | undefined;
  /** The local data dir (`ZT_DATA_DIR`, default `./.zt`), absolute. */
  dataDir: string;
  /** True when `--endpoint` was given on the command line (not only through `ZT_ENDPOINT`). */
  endpointFlag: boolean;
  /** How `client` was made, for commands that make a client of their own (`zt decide` signs as an agent). */
  connection: GatewayClientOptions;
  /** Aborted to stop a long-running command (`audit tail --follow`) cleanly; tests use it for SIGINT. */
  signal?: AbortSignal;
}

/** A bad argument found after parsing (exit 2, with usage). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A local file could not be read or written, or is not what was expected (exit 2, without usage). */
export class LocalFileError extends Error {
  override readonly name = 'LocalFileError';
  readonly code: string;
  constructor(message: string, code = 'LOCAL_FILE_ERROR') {
    super(message);
    this.code = code;
  }
}

export type Command = (ctx: CommandContext) => Promise<void>;

const printJson = (ctx: CommandContext, value: unknown) => ctx.out(`${JSON.stringify(value, null, 2)}\n`);

function str(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.values[name];
  return typeof v === 'string' ? v : undefined;
}

function parseAttributes(pairs: string[]): Record<string, AgentAttributeValue> {
  const attributes: Record<string, AgentAttributeValue> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`\`--attr ${pair}\` must be key=value`);
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    const existing = attributes[key];
    if (existing === undefined) attributes[key] = value;
    else attributes[key] = [...(Array.isArray(existing) ? existing : [String(existing)]), value];
  }
  return attributes;
}

/** `approvals approve|reject`: the digest the approver saw is required, so the verdict binds to it. */
async function vote(ctx: CommandContext, verdict: 'approve' | 'reject'): Promise<void> {
  const id = ctx.positionals[0] as string;
  const digest = str(ctx, 'params-sha256');
  if (digest === undefined || !/^[0-9a-f]{64}$/.test(digest)) {
    throw new UsageError(
      `\`--params-sha256\` must be the request's params digest (64 lower-case hex characters, as \`zt approvals list\` shows it), got \`${digest ?? 'nothing'}\``,
    );
  }
  const input: { params_sha256: string; ttl_seconds?: number } = { params_sha256: digest };
  const ttl = str(ctx, 'ttl');
  if (ttl !== undefined) {
    const seconds = Number(ttl);
    if (verdict !== 'approve' || !Number.isSafeInteger(seconds) || seconds <= 0) {
      throw new UsageError(`\`--ttl\` must be a positive number of seconds on approve, got \`${ttl}\``);
    }
    input.ttl_seconds = seconds;
  }
  const result = await ctx.client.voteApproval(id, verdict, input);
  if (ctx.json) return printJson(ctx, result);
  const audit = result['audit'] as { id?: string; expires_at?: string | null } | undefined;
  ctx.out(
    `${verdict === 'approve' ? 'approved' : 'rejected'} \`${id}\` (record \`${audit?.id ?? '?'}\`${
      audit?.expires_at ? `, counts until ${audit.expires_at}` : ''
    })\n`,
  );
}

export const COMMANDS: Record<string, Command> = {
  async 'agents register'(ctx) {
    const [agentId] = ctx.positionals;
    const input: RegisterAgentInput = { agentId: agentId! };
    const principalArn = str(ctx, 'principal-arn');
    if (principalArn !== undefined) input.principalArn = principalArn;
    const attrs = ctx.values['attr'];
    if (Array.isArray(attrs) && attrs.length > 0) input.attributes = parseAttributes(attrs);
    const agent = await ctx.client.registerAgent(input);
    if (ctx.json) return printJson(ctx, agent);
    ctx.out(`registered agent \`${cell(agent.agentId)}\` as ${cell(agent.principalArn)}\n`);
    const creds = agent.credentials;
    if (creds !== undefined) {
      const profile = creds.profile ?? `zt-agent-${agent.agentId}`;
      // The admin profile this command signed with lives in the emulator's file, so that is where it wrote.
      const file = ctx.credentialsFile ?? '<data dir>/aws-credentials';
      ctx.out(
        'credentials (shown only now):\n' +
          `  aws_access_key_id     = ${creds.accessKeyId}\n` +
          `  aws_secret_access_key = ${creds.secretAccessKey}\n` +
          `the emulator also wrote them to its credentials file as profile \`${profile}\`; use them with:\n` +
          `  AWS_SHARED_CREDENTIALS_FILE=${file} AWS_PROFILE=${profile}\n`,
      );
    }
  },

  async 'agents list'(ctx) {
    const result = await ctx.client.listAgents();
    if (ctx.json) return printJson(ctx, result);
    if (result.agents.length === 0) return ctx.out('no agents\n');
    ctx.out(
      table(
        ['AGENT', 'PRINCIPAL', 'STATUS', 'CREATED'],
        result.agents.map((a) => [cell(a.agentId), cell(a.principalArn), cell(a.status), cell(a.createdAt)]),
      ),
    );
  },

  async 'agents get'(ctx) {
    const agent = await ctx.client.getAgent(ctx.positionals[0]!);
    if (ctx.json) return printJson(ctx, agent);
    ctx.out(fields(agent, ['credentials']));
  },

  async 'agents disable'(ctx) {
    const result = await ctx.client.disableAgent(ctx.positionals[0]!);
    if (ctx.json) return printJson(ctx, result);
    ctx.out(`disabled agent \`${ctx.positionals[0]}\`\n`);
  },

  async 'policies put'(ctx) {
    const [policyId] = ctx.positionals;
    const file = str(ctx, 'file');
    if (file === undefined) throw new UsageError('`--file FILE` (or `--file -` for stdin) is required');
    let cedar: string;
    try {
      cedar = await ctx.readInput(file);
    } catch (err) {
      throw new LocalFileError(`cannot read \`${file}\`: ${(err as Error).message}`);
    }
    const description = str(ctx, 'description');
    const shadow = ctx.values['shadow'] === true;
    const result = await ctx.client.putPolicy(policyId!, {
      cedar,
      ...(description !== undefined ? { description } : {}),
      ...(shadow ? { mode: 'shadow' as const } : {}),
    });
    if (ctx.json) return printJson(ctx, result);
    ctx.out(
      `stored ${shadow ? 'shadow ' : ''}policy \`${cell(result.policyId)}\` (sha256 ${cell(result.sha256)})\n`,
    );
  },

  async 'policies allow'(ctx) {
    const action = str(ctx, 'action');
    if (action === undefined) throw new UsageError('`--action ACTION` is required');
    const agentId = str(ctx, 'agent');
    // A permit for every agent, or for an agent id nobody holds (a typo, or one registered later by
    // someone else), is rarely what was meant: both must be asked for by name.
    if (agentId === undefined && ctx.values['all-agents'] !== true) {
      throw new UsageError(
        'give `--agent ID` for one agent, or `--all-agents` to permit the action to every agent',
      );
    }
    if (agentId !== undefined && ctx.values['all-agents'] === true) {
      throw new UsageError('give `--agent ID` or `--all-agents`, not both');
    }
    if (agentId !== undefined && ctx.values['allow-unregistered'] !== true) {
      await requireRegisteredAgent(ctx.client, agentId);
    }
    const resource = str(ctx, 'resource');
    const reason = str(ctx, 'reason');
    const paramsJson = str(ctx, 'params-json');
    let params: Record<string, unknown> | undefined;
    if (paramsJson !== undefined) {
      params = parseJsonObject(paramsJson, '--params-json');
    }
    const result = await ctx.client.allowPolicy({
      action,
      ...(agentId !== undefined ? { agentId } : {}),
      ...(resource !== undefined ? { resource } : {}),
      ...(reason !== undefined ? { reason } : {}),
      ...(params !== undefined ? { params } : {}),
    });
    if (ctx.json) return printJson(ctx, result);
    ctx.out(`created policy \`${cell(result.policyId)}\` (sha256 ${cell(result.sha256)}):\n`);
    ctx.out(`${String(result.cedar ?? '').trimEnd()}\n`);
  },

  async 'schema put'(ctx) {
    const [file] = ctx.positionals;
    let text: string;
    try {
      text = await ctx.readInput(file!);
    } catch (err) {
      throw new LocalFileError(`cannot read \`${file}\`: ${(err as Error).message}`);
    }
    let declarations: Record<string, unknown>;
    try {
      declarations = parseJsonObject(text, file!);
    } catch (err) {
      throw new LocalFileError((err as Error).message);
    }
    const description = str(ctx, 'description');
    const result = await ctx.client.putSchema({
      declarations,
      ...(description !== undefined ? { description } : {}),
    });
    if (ctx.json) return printJson(ctx, result);
    const count = Object.keys(result.declarations).length;
    ctx.out(`stored ${count} declaration${count === 1 ? '' : 's'} (sha256 ${cell(result.sha256)})\n`);
  },

  async 'schema get'(ctx) {
    const result = await ctx.client.getSchema();
    if (ctx.json) return printJson(ctx, result);
    const rows = [
      ...Object.keys(result.builtin ?? {}).map((key) => [cell(key), 'built-in']),
      ...Object.keys(result.declarations).map((key) => [cell(key), 'admin']),
    ];
    if (rows.length === 0) return ctx.out('no declarations\n');
    ctx.out(table(['ACTION', 'FROM'], rows));
    ctx.out(`\n${JSON.stringify({ ...result.builtin, ...result.declarations }, null, 2)}\n`);
  },

  async 'policies list'(ctx) {
    const result = await ctx.client.listPolicies();
    if (ctx.json) return printJson(ctx, result);
    if (result.policies.length === 0) return ctx.out('no policies\n');
    ctx.out(
      table(
        ['POLICY', 'SHA256', 'DESCRIPTION'],
        result.policies.map((p) => [cell(p.policyId), shortHash(p.sha256), cell(p.description)]),
      ),
    );
  },

  'policies replay': policiesReplayCommand,

  async 'policies get'(ctx) {
    const policy = await ctx.client.getPolicy(ctx.positionals[0]!);
    if (ctx.json) return printJson(ctx, policy);
    ctx.out(fields(policy, ['cedar']));
    if (typeof policy.cedar === 'string') ctx.out(`\n${policy.cedar.trimEnd()}\n`);
  },

  async 'policies delete'(ctx) {
    const result = await ctx.client.deletePolicy(ctx.positionals[0]!);
    if (ctx.json) return printJson(ctx, result);
    ctx.out(`deleted policy \`${ctx.positionals[0]}\`\n`);
  },

  async 'approvals list'(ctx) {
    const result = await ctx.client.listApprovals({ limit: 100 });
    if (ctx.json) return printJson(ctx, result);
    if (result.approvals.length === 0) return ctx.out('no pending approvals\n');
    ctx.out(
      table(
        ['APPROVAL', 'AGENT', 'ACTION', 'RESOURCE', 'APPROVALS', 'EXPIRES', 'PARAMS_SHA256'],
        result.approvals.map((a) => [
          cell(a.approval_id),
          cell(a.actor),
          cell(a.action),
          cell(a.resource),
          `${a.approvals.length}/${a.approvals_required}`,
          cell(a.expires_at),
          cell(a.params_sha256),
        ]),
      ),
    );
  },

  async 'approvals approve'(ctx) {
    await vote(ctx, 'approve');
  },

  async 'approvals reject'(ctx) {
    await vote(ctx, 'reject');
  },

  async 'audit export'(ctx) {
    const outArg = str(ctx, 'out');
    const bundleArg = str(ctx, 'bundle');
    const formatArg = str(ctx, 'format') ?? 'records';
    if (formatArg !== 'records' && formatArg !== 'ocsf') {
      throw new UsageError(`\`--format\` must be \`records\` or \`ocsf\`, got \`${formatArg}\``);
    }
    const format: 'records' | 'ocsf' = formatArg;
    if (format === 'ocsf' && bundleArg !== undefined) {
      throw new UsageError(
        '`--format ocsf` writes events, not a bundle: give `--out FILE` or nothing (stdout)',
      );
    }
    if (outArg !== undefined && bundleArg !== undefined) {
      throw new UsageError('give `--out FILE` or `--bundle DIR`, not both');
    }
    if (outArg === undefined && bundleArg === undefined && format === 'records') {
      throw new UsageError('`--out FILE` or `--bundle DIR` is required');
    }
    if (ctx.values['requests'] === true && bundleArg === undefined) {
      throw new UsageError('`--requests` adds the kept requests to a bundle: it goes with `--bundle DIR`');
    }
    if ((ctx.values['after'] !== undefined || ctx.values['resume'] === true) && bundleArg === undefined) {
      throw new UsageError('`--after` and `--resume` resume a bundle: they go with `--bundle DIR`');
    }
    const pageSizeArg = str(ctx, 'page-size');
    let pageSize: number | undefined;
    if (pageSizeArg !== undefined) {
      pageSize = Number(pageSizeArg);
      if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) {
        throw new UsageError(`\`--page-size\` must be an integer from 1 to 1000, got \`${pageSizeArg}\``);
      }
    }
    if (bundleArg !== undefined) return exportBundleCommand(ctx, bundleArg, pageSize);
    if (outArg === undefined) {
      // --format ocsf to stdout, for a log shipper's pipe: events only, no summary line after them.
      try {
        await streamAudit(ctx.client, (chunk) => ctx.out(chunk), {
          format,
          ...(pageSize !== undefined ? { pageSize } : {}),
        });
      } catch (err) {
        if (err instanceof OcsfMappingError) throw new LocalFileError(err.message);
        throw err;
      }
      return;
    }
    const out = ctx.resolvePath(outArg);
    const progress = ctx.stderrIsTTY ? (n: number) => ctx.err(`\rzt: exported ${n} records`) : undefined;
    let count: number;
    try {
      count = await exportAudit(ctx.client, {
        out,
        format,
        ...(pageSize !== undefined ? { pageSize } : {}),
        ...(progress !== undefined ? { onProgress: progress } : {}),
      });
    } catch (err) {
      if (isNodeFsError(err)) throw new LocalFileError(`cannot write \`${outArg}\`: ${err.message}`);
      if (err instanceof OcsfMappingError) throw new LocalFileError(err.message);
      throw err;
    } finally {
      if (progress !== undefined) ctx.err('\n');
    }
    if (ctx.json) return printJson(ctx, { out, records: count, format });
    ctx.out(`exported ${count} records${format === 'ocsf' ? ' as OCSF events' : ''} to ${outArg}\n`);
  },

  async keys(ctx) {
    if (ctx.values['root-pem'] === true) return printRootPem(ctx);
    if (ctx.values['remote'] === true) throw new UsageError('`--remote` goes with `--root-pem`');
    const result = await ctx.client.keys();
    if (ctx.json) return printJson(ctx, result);
    if (result.keys.length === 0) return ctx.out('no keys\n');
    ctx.out(
      table(
        ['KEY ID', 'ROLE', 'NOT BEFORE', 'NOT AFTER'],
        result.keys.map((k) => [cell(k.keyId), cell(k.role), cell(k.notBefore), cell(k.notAfter)]),
      ),
    );
  },

  async health(ctx) {
    const result = await ctx.client.health();
    if (ctx.json) return printJson(ctx, result);
    ctx.out(result.ok === true ? 'ok\n' : `not ok: ${JSON.stringify(result)}\n`);
  },
};

/**
 * Refuses (exit 1, `AGENT_NOT_REGISTERED`) an agent id the gateway does not know; other failures of the
 * lookup come out as they are.
 */
async function requireRegisteredAgent(client: GatewayClient, agentId: string): Promise<void> {
  try {
    await client.getAgent(agentId);
  } catch (err) {
    if (err instanceof GatewayError && err.code === 'HTTP_ERROR' && err.status === 404) {
      throw new GatewayError(
        'HTTP_ERROR',
        `agent \`${agentId}\` is not registered: register it first (\`zt agents register ${agentId}\`) or pass \`--allow-unregistered\` to write the policy anyway`,
        {
          status: 404,
          serverCode: 'AGENT_NOT_REGISTERED',
          serverMessage: `agent \`${agentId}\` is not registered: register it first (\`zt agents register ${agentId}\`) or pass \`--allow-unregistered\` to write the policy anyway`,
        },
      );
    }
    throw err;
  }
}

/** A JSON object given on the command line or in a file, or a usage error saying what is wrong. */
export function parseJsonObject(text: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`\`${what}\` is not valid JSON: ${(err as Error).message.toLowerCase()}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError(`\`${what}\` must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

/**
 * `zt keys --root-pem`: the root public key (SPKI PEM) to pin in the SDK's `trustedKeys` or give to
 * `zt-audit --public-key`. Locally it is read from the data dir's key file, the trustworthy source; with
 * `--remote` or `--endpoint` it comes from the gateway's `GET /keys`, that is from the party about to be
 * trusted, so a warning says to compare it out of band.
 */
async function printRootPem(ctx: CommandContext): Promise<void> {
  if (ctx.values['remote'] !== true && !ctx.endpointFlag) {
    let local: Awaited<ReturnType<typeof localRootPublicKey>>;
    try {
      local = await localRootPublicKey(ctx.dataDir);
    } catch (err) {
      const why = isNodeFsError(err) ? err.code : err instanceof Error ? err.message : String(err);
      throw new LocalFileError(
        `cannot read the local root key in \`${ctx.dataDir}\` (${why}); start the emulator once (\`npm run local\`), set ZT_DATA_DIR, or take the key of a remote gateway with \`--remote\` and compare it out of band`,
      );
    }
    if (ctx.json)
      return printJson(ctx, {
        source: 'local',
        path: local.path,
        keyId: local.keyId,
        publicKeyPem: local.publicKeyPem,
      });
    return ctx.out(local.publicKeyPem);
  }
  const listing = await ctx.client.keys();
  let roots: ReturnType<typeof listedRootPublicKeys>;
  try {
    roots = listedRootPublicKeys(listing.keys);
  } catch (err) {
    throw new GatewayError('INVALID_RESPONSE', err instanceof Error ? err.message : String(err));
  }
  for (const root of roots) {
    ctx.err(
      `zt: warning: root key ${root.keyId} came from ${ctx.client.endpoint} (\`GET /keys\`), the gateway you are about to trust; ` +
        'compare this id out of band before pinning it (for the cloud stack: `aws kms get-public-key --key-id <RootKeyArn>`, see the README)\n',
    );
  }
  if (ctx.json) {
    return printJson(ctx, {
      source: 'remote',
      endpoint: ctx.client.endpoint,
      roots: roots.map((r) => ({ keyId: r.keyId, publicKeyPem: r.publicKeyPem })),
    });
  }
  ctx.out(roots.map((r) => r.publicKeyPem).join(''));
}

function isNodeFsError(err: unknown): err is Error & { code: string } {
  if (!(err instanceof Error) || err instanceof GatewayError) return false;
  const code = (err as Error & { code?: unknown }).code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code);
}
