import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  arnPath,
  isPublicRoute,
  publicRoutes,
  ROUTE_TABLE,
  type RouteSpec,
  routeKey,
  routeRequest,
  routesForRole,
} from '../../core/model/routes.js';
import { GatewayClient } from '../../sdk/GatewayClient.js';
import { loadOpenApiDocument } from './openapiValidator.js';
import { apiGatewayEvent, inMemoryRouter } from './targets.js';

type JsonObject = Record<string, unknown>;

const root = join(import.meta.dirname, '..', '..');
const TERRAFORM = join(root, 'infra', 'terraform', 'examples', 'authorization-gateway', 'main.tf');
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];
/** A path template with `x` for each parameter. */
const concrete = (path: string) => path.replace(/\{[^}]+\}/g, 'x');
const keys = (routes: ReadonlyArray<{ method: string; path: string }>) => routes.map(routeKey);

/** Every operation of openapi.yaml: `METHOD /path`, its effective security, and the role its summary names. */
function openApiOperations(): Array<{ key: string; security: unknown; summary: string }> {
  const doc = loadOpenApiDocument();
  const out: Array<{ key: string; security: unknown; summary: string }> = [];
  for (const [path, item] of Object.entries(doc['paths'] as Record<string, JsonObject>)) {
    for (const method of METHODS) {
      const op = item[method] as JsonObject | undefined;
      if (!op) continue;
      out.push({
        key: `${method.toUpperCase()} ${path}`,
        security: op['security'] ?? doc['security'],
        summary: String(op['summary'] ?? ''),
      });
    }
  }
  return out;
}

/**
 * The role an operation's summary names in its final parentheses (`List agents (admin)`, `Public keys (any
 * signed caller)`), or null when it names none.
 */
function summaryRole(summary: string): string | null {
  const named = /\(([^()]+)\)\s*$/.exec(summary)?.[1];
  if (named === undefined) return null;
  return named === 'any signed caller' ? 'signed' : named;
}

/** The body of `name = <open> ... <close>` in an HCL text, brackets balanced. */
function hclBlock(text: string, name: string, open: '{' | '[' | '('): string {
  const start = new RegExp(`^\\s*${name}\\s*=\\s*(?:concat)?\\${open}`, 'm').exec(text);
  if (!start) throw new Error(`no \`${name}\` in the terraform example`);
  const close = { '{': '}', '[': ']', '(': ')' }[open];
  let depth = 0;
  for (let i = start.index + start[0].length - 1; i < text.length; i++) {
    if (text[i] === open) depth++;
    if (text[i] === close && --depth === 0) return text.slice(start.index + start[0].length, i);
  }
  throw new Error(`\`${name}\` is not closed in the terraform example`);
}

/** The Terraform example's routes as the table's fields it states: the `routes` map `"METHOD /path" = "group"`. */
function terraformRoutes(text: string): Array<{ key: string; group: string }> {
  return [...hclBlock(text, 'routes', '{').matchAll(/^\s*"([A-Z]+ \/[^"]*)"\s*=\s*"([^"]+)"\s*$/gm)].map(
    (m) => ({ key: m[1] as string, group: m[2] as string }),
  );
}

/**
 * The route keys of an ARN list of the example: each `local.route_arn["KEY"]`, and each comprehension
 * `[for k, g in local.routes : local.route_arn[k] if g != "GROUP"]` expanded over the `routes` map.
 */
function terraformRouteList(text: string, name: string, open: '[' | '('): string[] {
  const body = hclBlock(text, name, open);
  const routes = terraformRoutes(text);
  const out: string[] = [];
  const parts = body.matchAll(
    /\[for k, g in local\.routes : local\.route_arn\[k\] if g (==|!=) "([^"]+)"\]|route_arn\["([^"]+)"\]/g,
  );
  for (const m of parts) {
    if (m[3] !== undefined) out.push(m[3]);
    else out.push(...routes.filter((r) => (m[1] === '==') === (r.group === m[2])).map((r) => r.key));
  }
  return out;
}

describe('when the route table is read on its own', () => {
  it('names each route and each handler once, with whole-segment path parameters', () => {
    const table: readonly RouteSpec[] = ROUTE_TABLE;
    expect(new Set(keys(table)).size).toBe(table.length);
    expect(new Set(table.map((r) => r.handler)).size).toBe(table.length);
    for (const r of table) expect(r.path, routeKey(r)).toMatch(/^(\/([a-z][a-z-]*|\{[A-Za-z]+\}))+$/);
  });

  it('grants each caller role its own routes then the signed ones, and no public route', () => {
    expect(keys(routesForRole('agent'))).toEqual([
      'POST /actions',
      'POST /actions/allowed',
      'POST /actions/{id}/outcome',
      'GET /whoami',
      'GET /keys',
    ]);
    const admin = keys(routesForRole('admin'));
    expect(admin.at(-1)).toBe('GET /keys');
    expect(admin).toContain('GET /audit');
    for (const key of keys(publicRoutes())) {
      expect(admin).not.toContain(key);
      expect(keys(routesForRole('agent'))).not.toContain(key);
    }
  });
});

describe('when the route table is checked against openapi.yaml', () => {
  it('documents every route of the table and no other, both ways', () => {
    const documented = openApiOperations().map((o) => o.key);
    expect(documented.filter((k) => !keys(ROUTE_TABLE).includes(k))).toEqual([]);
    expect(keys(ROUTE_TABLE).filter((k) => !documented.includes(k))).toEqual([]);
  });

  it('gives each route the security and the role the table says', () => {
    const byKey = new Map(openApiOperations().map((o) => [o.key, o]));
    for (const r of ROUTE_TABLE) {
      const op = byKey.get(routeKey(r));
      expect(op?.security, routeKey(r)).toEqual(r.role === 'public' ? [] : [{ sigv4: [] }]);
      // a public route needs no role in its summary; every signed one says whose it is
      const named = summaryRole(op?.summary ?? '');
      if (r.role === 'public') expect(named, routeKey(r)).toBeNull();
      else expect(named, `${routeKey(r)}: summary \`${op?.summary}\``).toBe(r.role);
    }
  });

  it('catches a route missing from either side (the check itself can fail)', () => {
    expect(summaryRole('Public keys (any signed caller)')).toBe('signed');
    expect(summaryRole('List agents (admin)')).toBe('admin');
    expect(summaryRole('Liveness')).toBeNull();
    const documented = openApiOperations().map((o) => o.key);
    expect(documented).not.toContain('POST /actions/{id}/approve');
  });
});

describe('when the route table is checked against the Terraform example', () => {
  const text = readFileSync(TERRAFORM, 'utf8');

  it('routes every route of the table to its group, and no other route', () => {
    const tf = terraformRoutes(text).map((r) => `${r.key} -> ${r.group}`);
    const table = ROUTE_TABLE.map((r) => `${routeKey(r)} -> ${r.group}`);
    expect(tf.filter((k) => !table.includes(k))).toEqual([]);
    expect(table.filter((k) => !tf.includes(k))).toEqual([]);
    expect(new Set(tf).size).toBe(tf.length);
  });

  it('leaves exactly the public routes unsigned (authorization NONE), in the methods and the resource policy', () => {
    const authorization = /^\s*authorization\s*=\s*(.*)$/m.exec(text)?.[1] ?? '';
    expect(authorization).toMatch(/\? "NONE" : "AWS_IAM"$/);
    const open = [...authorization.matchAll(/each\.key == "([^"]+)"/g)].map((m) => m[1]);
    expect(open).toEqual(keys(publicRoutes()));
    const policy = text.slice(text.indexOf('resource "aws_api_gateway_rest_api_policy"'));
    const allowHealth = /Sid\s+= "AllowHealth"[\s\S]*?Resource\s+= local\.route_arn\["([^"]+)"\]/.exec(
      policy,
    );
    const notResource = /NotResource = local\.route_arn\["([^"]+)"\]/.exec(policy);
    expect([allowHealth?.[1], notResource?.[1]]).toEqual([...keys(publicRoutes()), ...keys(publicRoutes())]);
  });

  it("grants the admin and agent roles the table's routes for them, no more and no fewer", () => {
    expect(terraformRouteList(text, 'admin_route_arns', '(').sort()).toEqual(
      keys(routesForRole('admin')).sort(),
    );
    expect(terraformRouteList(text, 'agent_route_arns', '[')).toEqual(keys(routesForRole('agent')));
  });

  it('catches a route missing from a list (the parser itself can fail)', () => {
    const cut = text.replace(/\n\s*local\.route_arn\["POST \/actions\/allowed"\],/, '');
    expect(cut).not.toBe(text);
    expect(terraformRouteList(cut, 'agent_route_arns', '[')).not.toEqual(keys(routesForRole('agent')));
    const moved = text.replace(/"GET \/audit"\s+= "audit"/, '"GET /audit" = "decisions"');
    expect(moved).not.toBe(text);
    expect(terraformRouteList(moved, 'admin_route_arns', '(')).not.toContain('GET /audit');
  });
});

describe('when the Lambda router is built from the table', () => {
  it('dispatches every route, and answers none but the public ones without a verified identity', async () => {
    // Prepare: each route as an attacker sends it with no IAM identity (as if API Gateway let it through)
    const { handler, lines } = inMemoryRouter();
    // Act
    const answers = [];
    for (const [i, r] of ROUTE_TABLE.entries()) {
      const event = apiGatewayEvent(r.method, concrete(r.path), undefined, '{}', 'admin', `r${i}`);
      event.requestContext.identity.userArn = null;
      answers.push(await handler(event));
    }
    // Assess: every route was matched by its template (none fell to 404/405); only public ones ran
    expect(lines.map((l) => l.route)).toEqual(keys(ROUTE_TABLE));
    expect(answers.map((a) => a.statusCode)).toEqual(
      ROUTE_TABLE.map((r) => (r.role === 'public' ? 200 : 403)),
    );
    for (const a of answers.filter((_, i) => ROUTE_TABLE[i]?.role !== 'public')) {
      expect(JSON.parse(a.body).error.code).toBe('FORBIDDEN');
    }
  });

  it('refuses a method the table does not list on a path it does, naming the allowed ones in table order', async () => {
    const { handler } = inMemoryRouter();
    const answer = await handler(apiGatewayEvent('PATCH', '/policies/allow', undefined, null, 'admin', 'p'));
    expect(answer.statusCode).toBe(405);
    expect(answer.headers?.['allow']).toBe('POST, PUT, GET, DELETE');
  });
});

describe('when the emulator decides which requests need no signature', () => {
  it('lets only a public route of the table through, compared as sent', () => {
    expect(isPublicRoute('GET', '/health')).toBe(true);
    for (const [method, path] of [
      ['POST', '/health'],
      ['GET', '/keys'],
      ['GET', '/%68ealth'],
      ['GET', '/health/'],
      ['GET', '//health'],
      ['GET', '/Health'],
      ['get', '/health'],
    ] as const) {
      expect(isPublicRoute(method, path), `${method} ${path}`).toBe(false);
    }
  });
});

describe('when the SDK builds its requests from the table', () => {
  it('encodes each path parameter as one segment and refuses an empty one', () => {
    expect(routeRequest('getAgent', { agentId: 'a/../b c' })).toEqual({
      method: 'GET',
      path: '/agents/a%2F..%2Fb%20c',
    });
    expect(routeRequest('reportOutcome', { id: 'main-7' })).toEqual({
      method: 'POST',
      path: '/actions/main-7/outcome',
    });
    expect(() => routeRequest('deletePolicy', { policyId: '' })).toThrow(TypeError);
    // @ts-expect-error a route with a path parameter needs its value
    expect(() => routeRequest('getPolicy')).toThrow(TypeError);
    expect(arnPath('/actions/{id}/outcome')).toBe('/actions/*/outcome');
  });

  it('has a GatewayClient method for every route, each sending its route', async () => {
    // Prepare: a gateway that records what it is sent and answers a shape every method accepts
    const sent: string[] = [];
    const client = new GatewayClient({
      endpoint: 'http://127.0.0.1:1',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
      fetch: async (input, init) => {
        sent.push(`${init.method} ${new URL(input).pathname}`);
        const body = {
          records: [],
          next: null,
          agents: [],
          policies: [],
          checkpoints: [],
          keys: [],
          approvals: [],
          agentId: 'x',
        };
        return new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } });
      },
    });
    // Act: one call per table handler name, with `x` for each path parameter
    const calls: Record<(typeof ROUTE_TABLE)[number]['handler'], () => Promise<unknown>> = {
      health: () => client.health(),
      decide: () => client.decide({ actor: 'a', action: 'b' } as never),
      allowedActions: () => client.allowedActions({} as never),
      reportOutcome: () => client.reportOutcome('x', {} as never),
      whoami: () => client.whoami(),
      keys: () => client.keys(),
      registerAgent: () => client.registerAgent({} as never),
      listAgents: () => client.listAgents(),
      getAgent: () => client.getAgent('x'),
      disableAgent: () => client.disableAgent('x'),
      allowPolicy: () => client.allowPolicy({} as never),
      listPolicies: () => client.listPolicies(),
      putPolicy: () => client.putPolicy('x', {} as never),
      getPolicy: () => client.getPolicy('x'),
      deletePolicy: () => client.deletePolicy('x'),
      listApprovals: () => client.listApprovals(),
      getApproval: () => client.getApproval('x'),
      approve: () => client.voteApproval('x', 'approve', {} as never),
      reject: () => client.voteApproval('x', 'reject', {} as never),
      putSchema: () => client.putSchema({} as never),
      getSchema: () => client.getSchema(),
      auditPage: () => client.auditPage({ after: 1 }),
      checkpoint: () => client.checkpoint(),
      checkpoints: () => client.checkpoints({ after: 1 }),
    };
    for (const r of ROUTE_TABLE) await calls[r.handler]();
    // Assess
    expect(sent).toEqual(ROUTE_TABLE.map((r) => `${r.method} ${concrete(r.path)}`));
  });
});
