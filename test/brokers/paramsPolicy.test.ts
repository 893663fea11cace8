import { existsSync } from 'node:fs';
import { chmod, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BWRAP_ACTION, createBwrapBroker } from '../../brokers/bwrap-local/index.js';
import type { DecisionRecord } from '../../core/model/records.js';
import { bwrapWorkDir, hasBwrap, warnIfNoBwrap } from './bwrapSandbox.js';
import { type BrokerGateway, failure, startBrokerGateway } from './emulatorFixture.js';

/**
 * Policy decides on what runs (issue 8): the broker's canonical spec is the request's `params`, the
 * built-in declaration of `broker.bwrap.run` types it, and a policy pinned to one program allows that
 * program only. A real emulator, real Cedar, a real sandbox.
 */

const ACTOR = 'params-bot';
warnIfNoBwrap('paramsPolicy.test.ts');

let gw: BrokerGateway;
let work: string;
let marker: string;
let wrapper: string;

beforeAll(async () => {
  if (!hasBwrap) return;
  let marks: string;
  ({ work, marks } = await bwrapWorkDir('zt-params-'));
  marker = join(marks, 'launched');
  wrapper = join(work, 'bwrap-wrapper.sh');
  // Proof of a launch: the wrapper leaves a mark on the host before handing over to the real bwrap.
  await writeFile(wrapper, `#!/bin/sh\nprintf '%s\\n' "$@" > '${marker}'\nexec bwrap "$@"\n`);
  await chmod(wrapper, 0o755);
  gw = await startBrokerGateway(ACTOR, []);
  // The narrowest allow: this agent, this action, and exactly this program (the shorthand's --params-json).
  await gw.admin.allowPolicy({ action: BWRAP_ACTION, agentId: ACTOR, params: { program: '/usr/bin/echo' } });
});

afterAll(async () => {
  await gw?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe.runIf(hasBwrap)('when a policy pins the program a broker may run', () => {
  const broker = () => createBwrapBroker({ client: gw.client, actor: ACTOR, bwrapPath: wrapper });

  it('runs the allowed program', async () => {
    await rm(marker, { force: true });
    const result = await broker().run({ command: ['/usr/bin/echo', 'hi'] });
    expect(result.stdout.toString()).toBe('hi\n');
    expect(existsSync(marker)).toBe(true);
  });

  it.each([
    ['a shell under the same agent and action', ['/bin/sh', '-c', 'echo hi']],
    ['another program given echo as an argument', ['/usr/bin/env', '/usr/bin/echo', 'hi']],
    ['the same program reached by another path', ['/bin/echo', 'hi']],
  ])('denies %s before anything launches, with a signed record', async (_name, command) => {
    await rm(marker, { force: true });
    const err = await failure(broker().run({ command }));
    expect(err.code).toBe('DENIED');
    expect(existsSync(marker)).toBe(false);
    const records = (await gw.admin.auditPage({ limit: 1000 })).records as unknown as DecisionRecord[];
    const last = records.filter((r) => r.kind === 'decision').at(-1);
    expect(last).toMatchObject({ actor: ACTOR, action: BWRAP_ACTION, decision: 'deny' });
  });

  it('lets a policy pin the exact, ordered argv too', async () => {
    await gw.admin.putPolicy('exact-echo', {
      cedar: `forbid (principal == Agent::"${ACTOR}", action == Action::"${BWRAP_ACTION}", resource)
unless { context.params.argv == "[\\"/usr/bin/echo\\",\\"hi\\",\\"there\\"]" };`,
    });
    try {
      expect((await broker().run({ command: ['/usr/bin/echo', 'hi', 'there'] })).stdout.toString()).toBe(
        'hi there\n',
      );
      await rm(marker, { force: true });
      const err = await failure(broker().run({ command: ['/usr/bin/echo', 'there', 'hi'] }));
      expect(err.code).toBe('DENIED');
      expect(existsSync(marker)).toBe(false);
    } finally {
      await gw.admin.deletePolicy('exact-echo');
    }
  });
});
