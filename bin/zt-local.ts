#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { startEmulator } from '../local/emulator.js';

const usage = `usage: npm run local [-- --reset] [--port N] [--host ADDR] [--data-dir DIR] [--quiet]

Starts the zt-infra emulator: the gateway's handlers behind SigV4 (API Gateway IAM auth emulation),
with an embedded DynamoDB-compatible store and a local root signing key under the data dir.
Environment: ZT_HOST (127.0.0.1), ZT_PORT (8787), ZT_DATA_DIR (.zt), ZT_PUBLIC_HOST (other names
clients sign for, comma-separated, as sent in Host: \`name\` or \`name:port\`).`;

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
  };
  try {
    ({ values } = parseArgs({
      options: {
        reset: { type: 'boolean' },
        port: { type: 'string' },
        host: { type: 'string' },
        'data-dir': { type: 'string' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    process.stderr.write(`zt-local: ${(error as Error).message}\n${usage}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const portText = values.port ?? process.env['ZT_PORT'] ?? '8787';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`zt-local: port must be an integer 0-65535, got \`${portText}\`\n`);
    return 2;
  }
  const emulator = await startEmulator({
    host: values.host ?? process.env['ZT_HOST'] ?? '127.0.0.1',
    port,
    publicHosts: (process.env['ZT_PUBLIC_HOST'] ?? '').split(','),
    dataDir: values['data-dir'] ?? process.env['ZT_DATA_DIR'] ?? '.zt',
    reset: values.reset ?? false,
    ...(values.quiet ? { log: null } : {}),
  });
  process.stderr.write(
    [
      'zt-infra emulator ready',
      `  endpoint     ${emulator.url}`,
      `  region       ${emulator.region}`,
      `  data dir     ${emulator.dataDir}`,
      `  credentials  ${emulator.credentialsFile} (profile ${emulator.adminProfile})`,
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
    process.stderr.write(`zt-local: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
