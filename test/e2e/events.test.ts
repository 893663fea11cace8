import { describe, expect, it } from 'vitest';
import type { AuditRecord, DecisionRecord } from '../../core/model/index.js';
import type { AwsCredentials } from '../../sdk/signer.js';
import { startTestEmulator } from '../helpers/emulator.js';
import { send } from '../helpers/http.js';

/** A listener as a user might write one: a class, whose methods live on its prototype, and a faulty sink. */
class FaultySink {
  readonly kinds: string[] = [];
  readonly decisions: string[] = [];
  decision(record: DecisionRecord): void {
    this.decisions.push(record.decision);
    throw new Error('metrics sink down');
  }
  appendedRecord(record: AuditRecord): void {
    this.kinds.push(record.kind);
  }
}

describe('when a caller listens on the emulator’s events port', () => {
  it('hears a class listener’s events, and a listener that throws never fails the recorded decision', async () => {
    const sink = new FaultySink();
    const emulator = await startTestEmulator({
      events: Object.assign(sink, { appended: (r: AuditRecord) => sink.appendedRecord(r) }),
    });
    try {
      const admin = emulator.adminCredentials;
      const reg = await send(emulator.url, 'POST', '/agents', { credentials: admin, body: { agentId: 'w' } });
      const agent = (reg.body as { credentials: AwsCredentials }).credentials;
      const decision = await send(emulator.url, 'POST', '/actions', {
        credentials: agent,
        body: { actor: 'w', action: 'x.y' },
      });
      // a deny recorded and answered as one, not a 5xx for a decision already in the log
      expect(decision.status).toBe(403);
      expect(decision.body).toMatchObject({ decision: 'deny', audit: { kind: 'decision' } });
      expect(sink.decisions).toEqual(['deny']);
      expect(sink.kinds).toContain('decision');
      expect(sink.kinds).toContain('agent');
    } finally {
      await emulator.close();
    }
  });
});
