import { describe, expect, it } from 'vitest';
import type { AwsCredentials } from '../../sdk/signer.js';
import { startTestEmulator } from '../helpers/emulator.js';
import { send } from '../helpers/http.js';

describe('when requests are logged', () => {
  it('writes one structured line per request, with the decision, and never a secret, signature or credential', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const emulator = await startTestEmulator({
      log: (line) => lines.push(line as Record<string, unknown>),
    });
    try {
      const admin = emulator.adminCredentials;
      const reg = await send(emulator.url, 'POST', '/agents', { credentials: admin, body: { agentId: 'w' } });
      const agent = (reg.body as { credentials: AwsCredentials }).credentials;
      const decision = await send(emulator.url, 'POST', '/actions', {
        credentials: agent,
        body: { actor: 'w', action: 'x.y' },
      });
      await send(emulator.url, 'GET', '/agents', { credentials: { ...agent, secretAccessKey: 'wrong' } });

      expect(lines.length).toBe(3);
      const [register, decide, forged] = lines;
      expect(register).toMatchObject({ msg: 'request', route: 'POST /agents', status: 201 });
      expect(decide).toMatchObject({
        route: 'POST /actions',
        status: 403,
        decision: 'deny',
        principal: expect.stringContaining('zt-agent-w'),
      });
      expect(forged).toMatchObject({ status: 403, error_code: 'SIGNATURE_MISMATCH' });
      for (const line of lines) expect(typeof line['trace_id']).toBe('string');
      const text = JSON.stringify(lines);
      const signature = (decision.body as { audit: { kms_signature: { signature: string } } }).audit
        .kms_signature.signature;
      for (const secret of [admin.secretAccessKey, agent.secretAccessKey, agent.accessKeyId, signature]) {
        expect(text).not.toContain(secret);
      }
      expect(text).not.toMatch(/AWS4-HMAC-SHA256|Signature=/);
    } finally {
      await emulator.close();
    }
  });
});
