import { describe, expect, it } from 'vitest';
import { AuditReader } from '../../core/gateway/AuditReader.js';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import { InMemoryKeyValueStore } from '../../core/ports/InMemoryKeyValueStore.js';
import { systemClock } from '../../core/ports/ports.js';
import { createApiHandler, type RequestLogLine } from '../../lambdas/http.js';
import { wireGateway } from '../../lambdas/wiring.js';
import { apiGatewayEvent, arnOf } from '../contract/targets.js';

describe('when a path carries empty, `.` or `..` segments', () => {
  it('matches no route, so a signature over the normalised path cannot reach another route', async () => {
    // Prepare: SigV4 signs `/agents` for `/agents/.` (dot segments are normalised away before signing).
    const store = new InMemoryKeyValueStore();
    const parts = wireGateway({
      store,
      rootSigner: InMemoryP256Signer.generate(),
      clock: systemClock,
      gatewayPrincipal: 'gw',
    });
    const lines: RequestLogLine[] = [];
    const handler = createApiHandler({
      gateway: parts.gateway,
      audit: new AuditReader({ store, checkpoints: parts.checkpointer }),
      adminPrincipalArns: [arnOf('admin')],
      log: (line) => lines.push(line),
    });
    // Act
    const paths = ['/agents/.', '/agents/%2E', '/agents/x/..', '/agents//x', '//agents', '/agents/'];
    const answers = await Promise.all(
      paths.map((p, i) => handler(apiGatewayEvent('GET', p, undefined, null, 'admin', `r${i}`))),
    );
    const ok = await handler(apiGatewayEvent('GET', '/agents', undefined, null, 'admin', 'r-ok'));
    // Assess
    expect(answers.map((a) => a.statusCode)).toEqual(paths.map(() => 404));
    expect(lines.slice(0, paths.length).map((l) => l.route)).toEqual(paths.map(() => 'unmatched'));
    expect(ok.statusCode).toBe(200);
  });
});
