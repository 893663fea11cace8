import { describe, expect, it } from 'vitest';
import { apiGatewayEvent, inMemoryRouter } from '../contract/targets.js';

describe('when a path carries empty, `.` or `..` segments', () => {
  it('matches no route, so a signature over the normalised path cannot reach another route', async () => {
    // Prepare: SigV4 signs `/agents` for `/agents/.` (dot segments are normalised away before signing).
    const { handler, lines } = inMemoryRouter();
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
