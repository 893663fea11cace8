#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { parseRequestKeeping } from '../core/gateway/index.js';
import { rotateRootKey } from '../local/dataDir.js';
import { startEmulator } from '../local/emulator.js';
import { packageVersion } from './cli/version.js';

const usage = `usage: zt-local [--reset] [--port N] [--host ADDR] [--data-dir DIR] [--quiet]
                [--console-port N | --no-console] [--console-approver NAME]
       zt-local rotate-key [--data-dir DIR] [--old-key-lost]
(\`npx zt-local\` where zt-infra is installed; \`npm run local -- ARGS\` in a checkout of zt-infra)

Starts the zt-infra emulator: the gateway's handlers behind SigV4 (API Gateway IAM auth emulation),
with an embedded SQLite store and a local root signing key under the data dir.
rotate-key (emulator stopped) makes a new root key and chains a record certifying it, signed by the
old root key, or by the new one itself with --old-key-lost; verifiers then trust both root public keys
(the data dir's root-public-keys.pem lists them).
Environment: ZT_HOST (127.0.0.1), ZT_PORT (8787), ZT_DATA_DIR (.zt), ZT_PUBLIC_HOST (other names
clients sign for, comma-separated, as sent in Host: \`name\` or \`name:port\`), ZT_START_WINDOW_MS
(how long an allow may wait for its started outcome, default 60000), ZT_APPROVERS (comma-separated
approver names: each gets the profile zt-approver-NAME, which may list, approve and reject approvals),
ZT_APPROVAL_WINDOW_MS (how long an approval_required request waits for approvals and its claim, default
3600000), ZT_APPROVAL_TTL_MS (how long one approve counts, default 900000), ZT_KEEP_REQUESTS (keep the request
data of these actions' decisions for \`zt policies replay\`: action ids, \`prefix.*\` or \`*\`, comma-separated;
default none), ZT_KEEP_REQUESTS_DAYS (how long, default 30), ZT_CONSOLE_PORT (8788: the read-only
console, always on 127.0.0.1, behind the token printed at startup; 0 picks a free port), ZT_CONSOLE=off
(no console, as --no-console) and ZT_CONSOLE_APPROVER (as --console-approver NAME: the console's approvals
inbox approves and rejects as the approver NAME, one of ZT_APPROVERS; without it the inbox only lists).`;

/** What a usage error prints: the usage lines alone (the rest is `--help`'s). */
const shortUsage = `${usage.split('\n').slice(0, 3).join('\n')}\n\nRun \`zt-local --help\` for details.`;

/** \`zt-local rotate-key\`: prints what it did; the data dir must not be in use. */
async function rotateKey(dataDir: string, oldKeyLost: boolean): Promise<number> {
  const rotation = await rotateRootKey({ dir: dataDir, oldKeyLost });
  process.stderr.write(
    [
      'root key rotated',
      `  previous root  ${rotation.previousKeyId ?? '(none)'}`,
      `  new root       ${rotation.newKeyId}`,
      `  certified by   the ${rotation.certifiedBy === 'previous-root' ? 'previous root' : 'new root itself (the previous key was lost)'}, record seq ${rotation.seq}`,
      ...(rotation.retiredKeyFile
        ? [`  previous key   moved to ${rotation.retiredKeyFile} (delete it once nothing needs it)`]
        : []),
      `  verify with    npx zt-audit verify FILE --public-key ${rotation.rootPublicKeysFile}`,
      ...(rotation.previousPublicKeyListed
        ? []
        : [
            `  warning        the previous root's public key is not known here: add it to ${rotation.rootPublicKeysFile} yourself`,
          ]),
      '',
    ].join('\n'),
  );
  return 0;
}

async function main(): Promise<number> {
  // The AWS SDK warns about Node 20 at first use; Node 20 is supported here (package.json engines).
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  let values: {
    reset?: boolean;
    port?: string;
    host?: string;
    'data-dir'?: string;
    quiet?: boolean;
    help?: boolean;
    'old-key-lost'?: boolean;
    version?: boolean;
    'no-console'?: boolean;
    'console-port'?: string;
    'console-approver'?: string;
  };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      allowPositionals: true,
      options: {
        reset: { type: 'boolean' },
        port: { type: 'string' },
        host: { type: 'string' },
        'data-dir': { type: 'string' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
        'old-key-lost': { type: 'boolean' },
        version: { type: 'boolean' },
        'no-console': { type: 'boolean' },
        'console-port': { type: 'string' },
        'console-approver': { type: 'string' },
      },
    }));
  } catch (error) {
    process.stderr.write(`zt-local: ${(error as Error).message}\n\n${shortUsage}\n`);
    return 2;
  }
  if (values.version) {
    process.stdout.write(`zt-local ${packageVersion()}\n`);
    return 0;
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const dataDir = values['data-dir'] ?? process.env['ZT_DATA_DIR'] ?? '.zt';
  const [command, ...rest] = positionals;
  if (command === 'rotate-key' && rest.length === 0)
    return rotateKey(dataDir, values['old-key-lost'] ?? false);
  if (command !== undefined || values['old-key-lost']) {
    process.stderr.write(
      `zt-local: expected no command or \`rotate-key\`, got \`${positionals.join(' ') || '--old-key-lost'}\`\n\n${shortUsage}\n`,
    );
    return 2;
  }
  const portText = values.port ?? process.env['ZT_PORT'] ?? '8787';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`zt-local: port must be an integer 0-65535, got \`${portText}\`\n`);
    return 2;
  }
  const consoleSwitch = process.env['ZT_CONSOLE'];
  if (consoleSwitch !== undefined && consoleSwitch !== '' && !['on', 'off'].includes(consoleSwitch)) {
    process.stderr.write(`zt-local: ZT_CONSOLE must be \`on\` or \`off\`, got \`${consoleSwitch}\`\n`);
    return 2;
  }
  const consoleOn = !(values['no-console'] ?? false) && consoleSwitch !== 'off';
  const consolePortText = values['console-port'] ?? process.env['ZT_CONSOLE_PORT'] ?? '8788';
  const consolePort = Number(consolePortText);
  if (!/^\d{1,5}$/.test(consolePortText) || consolePort > 65535) {
    process.stderr.write(`zt-local: console port must be an integer 0-65535, got \`${consolePortText}\`\n`);
    return 2;
  }
  if (values['console-port'] !== undefined && values['no-console']) {
    process.stderr.write('zt-local: `--console-port` and `--no-console` exclude each other\n');
    return 2;
  }
  const consoleApproverText = values['console-approver'] ?? process.env['ZT_CONSOLE_APPROVER'] ?? '';
  const consoleApprover = consoleApproverText.trim() === '' ? undefined : consoleApproverText.trim();
  if (values['console-approver'] !== undefined && !consoleOn) {
    process.stderr.write(
      'zt-local: `--console-approver` needs the console: drop `--no-console` or ZT_CONSOLE=off\n',
    );
    return 2;
  }
  const windowText = process.env['ZT_START_WINDOW_MS'];
  const startWindowMs = windowText === undefined || windowText === '' ? undefined : Number(windowText);
  if (startWindowMs !== undefined && (!Number.isSafeInteger(startWindowMs) || startWindowMs <= 0)) {
    process.stderr.write(
      `zt-local: ZT_START_WINDOW_MS must be a positive integer (ms), got \`${windowText}\`\n`,
    );
    return 2;
  }
  const durations: Record<string, number> = {};
  for (const [name, key] of [
    ['ZT_APPROVAL_WINDOW_MS', 'approvalWindowMs'],
    ['ZT_APPROVAL_TTL_MS', 'approvalTtlMs'],
  ] as const) {
    const text = process.env[name];
    if (text === undefined || text === '') continue;
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value <= 0) {
      process.stderr.write(`zt-local: ${name} must be a positive integer (ms), got \`${text}\`\n`);
      return 2;
    }
    durations[key] = value;
  }
  const approvers = (process.env['ZT_APPROVERS'] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  let keepRequests: ReturnType<typeof parseRequestKeeping>;
  try {
    keepRequests = parseRequestKeeping(process.env['ZT_KEEP_REQUESTS'], process.env['ZT_KEEP_REQUESTS_DAYS']);
  } catch (error) {
    process.stderr.write(`zt-local: ZT_KEEP_REQUESTS: ${(error as Error).message}\n`);
    return 2;
  }
  const emulator = await startEmulator({
    ...durations,
    approvers,
    host: values.host ?? process.env['ZT_HOST'] ?? '127.0.0.1',
    port,
    publicHosts: (process.env['ZT_PUBLIC_HOST'] ?? '').split(','),
    dataDir,
    reset: values.reset ?? false,
    ...(values.quiet ? { log: null } : {}),
    ...(startWindowMs !== undefined ? { startWindowMs } : {}),
    ...(keepRequests !== null ? { keepRequests } : {}),
    console: consoleOn
      ? { port: consolePort, ...(consoleApprover !== undefined ? { approver: consoleApprover } : {}) }
      : false,
  });
  process.stderr.write(
    [
      'zt-infra emulator ready',
      `  endpoint     ${emulator.url}`,
      `  region       ${emulator.region}`,
      `  data dir     ${emulator.dataDir}`,
      `  credentials  ${emulator.credentialsFile} (profile ${emulator.adminProfile})`,
      ...(emulator.approvers.length > 0
        ? [`  approvers    ${emulator.approvers.map((a) => a.profile).join(', ')}`]
        : []),
      ...(emulator.console
        ? [
            `  console      ${emulator.console.loginUrl}`,
            consoleApprover !== undefined
              ? `               (loopback only; the token lets whoever holds it read the log and policies, and approve or reject as zt-approver-${consoleApprover})`
              : '               (read-only, loopback only; the token lets whoever holds it read the log and policies)',
          ]
        : ['  console      off']),
      '',
      `  export AWS_SHARED_CREDENTIALS_FILE=${emulator.credentialsFile} AWS_PROFILE=${emulator.adminProfile} ZT_ENDPOINT=${emulator.url}`,
      '  npx zt agents list',
      '',
    ].join('\n'),
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await emulator.close();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    const code = (error as { code?: unknown }).code;
    // A coded refusal names its code, for scripts; a port in use keeps its one line.
    process.stderr.write(
      `zt-local: ${(error as Error).message}${code === 'CONSOLE_APPROVER_UNKNOWN' ? ` (${code})` : ''}\n`,
    );
    process.exit(1);
  },
);
