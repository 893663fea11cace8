import { beforeEach, describe, expect, it } from 'vitest';
import { AuditReader } from '../../core/gateway/AuditReader.js';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import { InMemoryKeyValueStore } from '../../core/ports/InMemoryKeyValueStore.js';
import { systemClock } from '../../core/ports/ports.js';
import type { ApiGatewayProxyEvent, ApiGatewayProxyResult } from '../../lambdas/apigw.js';
import { createApiHandler } from '../../lambdas/http.js';
import { type GatewayParts, wireGateway } from '../../lambdas/wiring.js';
import { apiGatewayEvent, arnOf } from './targets.js';

// The HTTP edge in process, fed API Gateway REST events as IAM auth delivers them: what it does with
// the verified signature, repeated query keys, body bytes and principal ARNs.

interface Body {
  ok?: boolean;
  decision?: string;
  principalArn?: string;
  audit?: { id: string; request_id: string; actor: string; principal_arn: string };
  error?: { code: string; details?: { field?: string } };
}

const SIG_A = 'a'.repeat(64);
const SIG_B = 'b'.repeat(64);

describe('when the Lambda handler receives API Gateway events', () => {
  let parts: GatewayParts;
  let handler: (event: ApiGatewayProxyEvent) => Promise<ApiGatewayProxyResult>;
  let n = 0;
  const call = async (event: ApiGatewayProxyEvent) => {
    const result = await handler(event);
    return { status: result.statusCode, body: JSON.parse(result.body) as Body };
  };
  const asAdmin = (method: string, path: string, body?: unknown) =>
    call(
      apiGatewayEvent(
        method,
        path,
        undefined,
        body === undefined ? null : JSON.stringify(body),
        'admin',
        `r${++n}`,
      ),
    );
  /** POST /actions as alice; each event gets its own API Gateway request id, the signature is given. */
  const decide = (body: unknown, signature?: string) =>
    call(apiGatewayEvent('POST', '/actions', undefined, JSON.stringify(body), 'alice', `r${++n}`, signature));
  const records = async () => (await parts.writer.page(0, 100_000)).length;
  const hello = { actor: 'alice', action: 'hello-world.say_hello' };

  beforeEach(async () => {
    const store = new InMemoryKeyValueStore();
    parts = wireGateway({
      store,
      rootSigner: InMemoryP256Signer.generate(),
      clock: systemClock,
      gatewayPrincipal: 'arn:aws:iam::111122223333:role/zt-gateway',
    });
    handler = createApiHandler({
      gateway: parts.gateway,
      audit: new AuditReader({ store, checkpoints: parts.checkpointer }),
      adminPrincipalArns: [arnOf('admin')],
    });
    expect(
      (await asAdmin('POST', '/agents', { agentId: 'alice', principalArn: arnOf('alice') })).status,
    ).toBe(201);
    const allow = await asAdmin('POST', '/policies/allow', {
      action: 'hello-world.say_hello',
      agentId: 'alice',
    });
    expect(allow.status).toBe(201);
  });

  describe('when a signed POST /actions without request_id arrives again with the same signature', () => {
    it('answers with the first record and writes no second one', async () => {
      // Prepare
      const before = await records();

      // Act
      const first = await decide(hello, SIG_A);
      const replay = await decide(hello, SIG_A);

      // Assess
      expect(first.status).toBe(200);
      expect(replay).toEqual(first);
      expect(first.body.audit?.request_id).toMatch(/^sig-[0-9a-f]{64}$/);
      expect(await records()).toBe(before + 1);
    });

    it('keeps one record when the replays arrive together', async () => {
      // Prepare
      const before = await records();

      // Act
      const answers = await Promise.all(Array.from({ length: 6 }, () => decide(hello, SIG_A)));

      // Assess
      const ids = new Set(answers.filter((a) => a.status === 200).map((a) => a.body.audit?.id));
      expect(ids.size).toBe(1);
      expect(answers.every((a) => a.status === 200 || a.body.error?.code === 'REQUEST_IN_PROGRESS')).toBe(
        true,
      );
      expect(await records()).toBe(before + 1);
    });

    it('decides requests with other signatures anew', async () => {
      // Act
      const a = await decide(hello, SIG_A);
      const b = await decide(hello, SIG_B);

      // Assess
      expect(b.status).toBe(200);
      expect(b.body.audit?.id).not.toBe(a.body.audit?.id);
      expect(b.body.audit?.request_id).not.toBe(a.body.audit?.request_id);
    });

    it('keys a request that carries a request_id by it, not by its signature', async () => {
      // Act
      const first = await decide({ ...hello, request_id: 'client-1' }, SIG_A);
      const sameId = await decide({ ...hello, request_id: 'client-1' }, SIG_B);

      // Assess
      expect(first.body.audit?.request_id).toBe('client-1');
      expect(sameId).toEqual(first);
    });

    it('never answers another principal with the record a signature was first used for', async () => {
      // Prepare: bob signs (impossibly) the same signature; his requests are keyed apart from alice's.
      expect((await asAdmin('POST', '/agents', { agentId: 'bob', principalArn: arnOf('bob') })).status).toBe(
        201,
      );
      const first = await decide(hello, SIG_A);

      // Act
      const bob = await call(
        apiGatewayEvent('POST', '/actions', undefined, JSON.stringify(hello), 'bob', `r${++n}`, SIG_A),
      );

      // Assess
      expect(bob.status).toBe(403);
      expect(bob.body.audit?.id).not.toBe(first.body.audit?.id);
      expect(bob.body.audit?.principal_arn).toBe(arnOf('bob'));
    });

    it('falls back to a fresh server id when the event carries no signature to read', async () => {
      // Prepare
      const unsigned = () => {
        const event = apiGatewayEvent(
          'POST',
          '/actions',
          undefined,
          JSON.stringify(hello),
          'alice',
          `r${++n}`,
        );
        delete (event.headers as Record<string, string>)['Authorization'];
        return call(event);
      };

      // Act
      const [a, b] = [await unsigned(), await unsigned()];

      // Assess
      expect(a.body.audit?.request_id).toMatch(/^srv-/);
      expect(b.body.audit?.id).not.toBe(a.body.audit?.id);
    });
  });

  describe('when a query key is repeated', () => {
    it.each([
      ['a key the route reads', '/audit', 'after=1&after=5', 'after'],
      ['a key the route ignores', '/keys', 'x=1&x=2', 'x'],
      ['__proto__', '/audit', '__proto__=1&__proto__=2', '__proto__'],
    ])('refuses %s on a signed route with a 400', async (_name, path, query, field) => {
      // Act
      const answer = await call(apiGatewayEvent('GET', path, query, null, 'admin', `r${++n}`));

      // Assess
      expect(answer.status).toBe(400);
      expect(answer.body.error?.code).toBe('DUPLICATE_QUERY_PARAMETER');
      expect(answer.body.error?.details?.field).toBe(field);
    });
  });

  describe('when a body holds numbers, strings and keys near what is refused', () => {
    const raw = (context: string) =>
      call(
        apiGatewayEvent(
          'POST',
          '/actions',
          undefined,
          `{"actor":"alice","action":"hello-world.say_hello","context":${context}}`,
          'alice',
          `r${++n}`,
        ),
      );

    it('decides numbers a double holds exactly, and number-like text inside strings and keys', async () => {
      // Act
      const answer = await raw(
        '{"max":9007199254740991,"min":-9007199254740991,"zero":-0,"zeros":0e400,"half":1.5,"small":1e-300,' +
          '"hundred":1E2,"s":"9007199254740993","e":"1e400","q":"say \\"1e400\\"","1e400":true,"deep":"[[[[[[[[[["}',
      );

      // Assess: a recorded decision (Cedar itself denies the floats), not a refusal.
      expect(answer.body.error).toBeUndefined();
      expect(answer.body.audit?.request_id).toMatch(/^sig-/);
    });

    it.each([
      ['2^53', '{"n":9007199254740992}', 'context.n'],
      ['-1e400', '{"n":-1e400}', 'context.n'],
      ['1E400', '{"n":[0,1E400]}', 'context.n[1]'],
      ['a float that rounds to 2^53', '{"n":9007199254740991.5}', 'context.n'],
      ['a number after a string ending in a backslash', '{"s":"a\\\\","n":1e400}', 'context.n'],
      ['a number under a key that is not an identifier', '{"a b":{"c":1e999}}', 'context["a b"].c'],
    ])('refuses %s', async (_name, context, field) => {
      // Act
      const answer = await raw(context);

      // Assess
      expect(answer.status).toBe(400);
      expect(answer.body.error?.code).toBe('NUMBER_OUT_OF_RANGE');
      expect(answer.body.error?.details?.field).toBe(field);
    });

    it('refuses a key spelled once plainly and once escaped, but not equal keys in different objects', async () => {
      // Act
      const escaped = await raw('{"a":1,"\\u0061":2}');
      const apart = await raw('{"a":{"x":1},"b":{"x":2},"c":[{"x":1},{"x":2}]}');

      // Assess
      expect(escaped.status).toBe(400);
      expect(escaped.body.error?.code).toBe('DUPLICATE_KEY');
      expect(apart.status).toBe(200);
    });
  });

  describe('when the body bytes are not valid utf-8', () => {
    it('refuses them as malformed JSON and writes nothing', async () => {
      // Prepare
      const before = await records();
      const bytes = Buffer.concat([
        Buffer.from('{"actor":"alice","action":"hello-world.say_hello","resource":"'),
        Buffer.from([0xed, 0xa0, 0x80]), // a surrogate encoded as if it were a character (CESU-8)
        Buffer.from('"}'),
      ]);
      const event = apiGatewayEvent(
        'POST',
        '/actions',
        undefined,
        bytes.toString('base64'),
        'alice',
        `r${++n}`,
      );
      event.isBase64Encoded = true;

      // Act
      const answer = await call(event);

      // Assess
      expect(answer.status).toBe(400);
      expect(answer.body.error?.code).toBe('MALFORMED_JSON');
      expect(await records()).toBe(before);
    });
  });

  describe('when an agent is registered under one spelling of its role and called under another', () => {
    const session = (role: string, name: string) => `arn:aws:sts::111122223333:assumed-role/${role}/${name}`;
    const decideAs = (userArn: string, body: unknown) => {
      const event = apiGatewayEvent('POST', '/actions', undefined, JSON.stringify(body), 'alice', `r${++n}`);
      event.requestContext.identity.userArn = userArn;
      return call(event);
    };

    it('binds the role a session ARN names, so the role’s other sessions are that agent', async () => {
      // Prepare
      const reg = await asAdmin('POST', '/agents', {
        agentId: 'erin',
        principalArn: session('erin', 'setup'),
      });
      await asAdmin('POST', '/policies/allow', { action: 'hello-world.say_hello', agentId: 'erin' });

      // Act
      const answer = await decideAs(session('erin', 'run-42'), {
        actor: 'erin',
        action: 'hello-world.say_hello',
      });

      // Assess
      expect(reg.status).toBe(201);
      expect(reg.body.principalArn).toBe('arn:aws:iam::111122223333:role/erin');
      expect(answer.status).toBe(200);
      expect(answer.body.audit?.principal_arn).toBe('arn:aws:iam::111122223333:role/erin');
    });

    it('binds a role ARN with a path so that its sessions (which show no path) match it', async () => {
      // Prepare
      const reg = await asAdmin('POST', '/agents', {
        agentId: 'frank',
        principalArn: 'arn:aws:iam::111122223333:role/service-role/agents/frank',
      });
      await asAdmin('POST', '/policies/allow', { action: 'hello-world.say_hello', agentId: 'frank' });

      // Act
      const answer = await decideAs(session('frank', 's'), {
        actor: 'frank',
        action: 'hello-world.say_hello',
      });

      // Assess
      expect(reg.body.principalArn).toBe('arn:aws:iam::111122223333:role/frank');
      expect(answer.status).toBe(200);
    });

    it.each([
      ['its role ARN', 'arn:aws:iam::111122223333:role/grace'],
      ['its role ARN with a path', 'arn:aws:iam::111122223333:role/x/grace'],
      ['another of its sessions', 'arn:aws:sts::111122223333:assumed-role/grace/other'],
    ])(
      'refuses to bind a second agent to a role bound through a session, spelled as %s',
      async (_name, arn) => {
        // Prepare
        expect(
          (await asAdmin('POST', '/agents', { agentId: 'grace', principalArn: session('grace', 's1') }))
            .status,
        ).toBe(201);
        const before = await records();

        // Act
        const second = await asAdmin('POST', '/agents', { agentId: 'grace-2', principalArn: arn });

        // Assess
        expect(second.status).toBe(409);
        expect(second.body.error?.code).toBe('PRINCIPAL_ALREADY_BOUND');
        expect(await records()).toBe(before);
        expect((await asAdmin('GET', '/agents/grace-2')).status).toBe(404);
      },
    );

    it('keeps other ARNs as spelled', async () => {
      // Act
      const user = await asAdmin('POST', '/agents', {
        agentId: 'henry',
        principalArn: 'arn:aws:iam::111122223333:user/team/henry',
      });

      // Assess
      expect(user.body.principalArn).toBe('arn:aws:iam::111122223333:user/team/henry');
    });
  });
});
