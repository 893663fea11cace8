#!/usr/bin/env node
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyChain } from '../core/verify/index.js';
import { startEmulator } from '../local/emulator.js';
import { GatewayClient } from '../sdk/GatewayClient.js';
import { ZeroTrustClient, ZeroTrustError } from '../sdk/index.js';
import { localRootPublicKey } from './cli/rootPublicKey.js';

/**
 * The five-minute story, self-contained: a fresh emulator in a temporary data dir (so it never
 * touches `.zt/` or a running `npm run local`), an agent, a deny before execution, a narrow policy,
 * the one allowed action, and an exported log verified against the root key alone.
 */
const color = process.stdout.isTTY && !process.env['NO_COLOR'];
const paint = (code: number, text: string) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
const step = (n: number, text: string) => console.log(`\n${paint(1, `[${n}/7] ${text}`)}`);
const info = (text: string) => console.log(`      ${text}`);

async function main(): Promise<number> {
  const dataDir = await mkdtemp(join(tmpdir(), 'zt-demo-'));
  const emulator = await startEmulator({ dataDir, port: 0, log: null });
  try {
    step(1, 'start the local control plane');
    info(`emulator at ${emulator.url} (region ${emulator.region}), data in ${dataDir}`);
    info(`admin credentials: ${emulator.credentialsFile} [${emulator.adminProfile}]`);
    const admin = new GatewayClient({
      endpoint: emulator.url,
      credentials: {
        accessKeyId: emulator.admin.accessKeyId,
        secretAccessKey: emulator.admin.secretAccessKey,
      },
    });
    // The key to pin comes from the data dir (what `zt keys --root-pem` prints), never from the gateway.
    const root = await localRootPublicKey(dataDir);
    info(`root signing key ${root.keyId.slice(0, 23)}... (read from ${root.path}: \`zt keys --root-pem\`)`);

    step(2, 'register an agent identity');
    const registered = await admin.registerAgent({ agentId: 'demo-agent', attributes: { team: 'demo' } });
    if (!registered.credentials) throw new Error('the emulator minted no credentials');
    info(`agent \`demo-agent\` bound to ${registered.principalArn}`);
    info(`its own SigV4 credentials: profile zt-agent-demo-agent, key ${registered.credentials.accessKeyId}`);
    const agent = new ZeroTrustClient({
      endpoint: emulator.url,
      credentials: registered.credentials,
      trustedKeys: [root.publicKeyPem],
    });

    let terminated = false;
    const terminateInstances = async () => {
      terminated = true;
      return 'terminated i-0123456789abcdef0';
    };
    let greeted = 0;
    const sayHello = async () => {
      greeted++;
      return 'hello, world';
    };

    step(3, 'the agent attempts aws.ec2.terminate_instances');
    const terminate = {
      actor: 'demo-agent',
      action: 'aws.ec2.terminate_instances',
      resource: 'arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0',
      params: { InstanceIds: ['i-0123456789abcdef0'] },
    };
    let denyRecord: unknown = null;
    try {
      await agent.guard(terminate, terminateInstances);
      throw new Error('the gateway allowed an action no policy permits');
    } catch (error) {
      if (!(error instanceof ZeroTrustError) || error.code !== 'DENIED') throw error;
      denyRecord = error.record;
      step(4, 'denied before execution');
      info(`decision: deny (${error.message})`);
      info(`protected function ran: ${terminated ? paint(31, 'YES') : paint(32, 'no')}`);
      info('signed deny record:');
      console.log(
        JSON.stringify(denyRecord, null, 2)
          .split('\n')
          .map((l) => `        ${l}`)
          .join('\n'),
      );
    }
    if (terminated) throw new Error('the protected function ran without an allow');

    step(5, 'an admin applies a narrow policy');
    const policy = await admin.allowPolicy({
      action: 'hello-world.say_hello',
      agentId: 'demo-agent',
      reason: 'five-minute demo',
    });
    info(`policy \`${policy.policyId}\` (sha256 ${policy.sha256.slice(0, 16)}...):`);
    for (const line of policy.cedar.trimEnd().split('\n')) info(`  ${line}`);

    step(6, 'the agent runs hello-world.say_hello, and only that runs');
    const greeting = await agent.guard({ actor: 'demo-agent', action: 'hello-world.say_hello' }, sayHello);
    info(`allowed and ran: ${paint(32, greeting)} (ran ${greeted} time)`);
    try {
      await agent.guard(terminate, terminateInstances);
    } catch (error) {
      if (!(error instanceof ZeroTrustError) || error.code !== 'DENIED') throw error;
      info(
        `aws.ec2.terminate_instances is still denied (${error.message}); ran: ${terminated ? 'YES' : 'no'}`,
      );
    }
    if (terminated || greeted !== 1) throw new Error('something other than the allowed action ran');

    step(7, 'export the audit log and verify it');
    const exportFile = join(dataDir, 'audit.jsonl');
    const lines: string[] = [];
    for (let after: number | null = 0; after !== null; ) {
      const page = await admin.auditPage({ after, limit: 1000 });
      lines.push(...page.rawRecords);
      after = page.next;
    }
    await writeFile(exportFile, `${lines.join('\n')}\n`);
    info(`exported ${lines.length} records to ${exportFile}`);
    const report = verifyChain(lines, { trustedRootKeys: [root.publicKeyPem] });
    for (const finding of report.findings)
      info(paint(31, `seq ${finding.seq}: ${finding.code}: ${finding.message}`));
    if (!report.ok) return 1;
    info(
      `${paint(32, 'verified')}: ${report.records} records (seq ${report.firstSeq}-${report.lastSeq}): every hash, link, ` +
        `sequence number and signature; ${report.keysUsed.length} keys (root + certified session key)`,
    );
    info(`head ${report.headHash}`);
    const rootFile = join(dataDir, 'root.pem');
    await writeFile(rootFile, root.publicKeyPem);
    if (process.env['ZT_DEMO_KEEP']) {
      info(`verify it yourself: npx zt-audit verify ${exportFile} --public-key ${rootFile}`);
    } else {
      info('run with ZT_DEMO_KEEP=1 to keep the export and the root public key for `npx zt-audit verify`');
    }
    console.log(
      `\n${paint(1, 'done:')} nothing ran without a verified allow, and every decision is provable.`,
    );
    return 0;
  } finally {
    await emulator.close();
    if (!process.env['ZT_DEMO_KEEP']) await rm(dataDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`demo failed: ${(error as Error).stack ?? error}`);
    process.exit(1);
  },
);
