import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Ajv2020Module, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';

/**
 * Checks HTTP answers (and request bodies) against `openapi.yaml`, the contract as a document. The
 * contract tests replay one corpus against the handlers and the emulator and run every answer through
 * {@link validateResponse}, so a body, field or status the document does not describe fails a test.
 */

/** Where the document lives: the repository root, two levels above this file. */
export const OPENAPI_PATH = fileURLToPath(new URL('../../openapi.yaml', import.meta.url));

export type ValidationResult = { ok: true } | { ok: false; errors: string[] };

export interface DocumentedOperation {
  method: string;
  pathTemplate: string;
  /** Documented statuses; a range such as `5XX` is listed as its first status (500). */
  statuses: number[];
}

type JsonObject = Record<string, unknown>;

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
/** The `$id` the document is registered under in Ajv; `#/components/...` refs are rewritten onto it. */
const ROOT_ID = 'https://zt-infra.invalid/openapi.yaml';
const JSON_MEDIA_TYPE = 'application/json';

// The CommonJS builds export the constructor both as the module and as its `default` property.
const Ajv2020 = Ajv2020Module.default;
const addFormats = addFormatsModule.default;

interface Loaded {
  doc: JsonObject;
  ajv: InstanceType<typeof Ajv2020>;
  templates: Array<{ template: string; regex: RegExp; literalSegments: number; item: JsonObject }>;
  compiled: WeakMap<object, ValidateFunction>;
}

let loaded: Loaded | undefined;

/** The parsed document (a fresh deep copy, so tests may inspect it freely). */
export function loadOpenApiDocument(): JsonObject {
  return parse(readFileSync(OPENAPI_PATH, 'utf8')) as JsonObject;
}

function load(): Loaded {
  if (loaded) return loaded;
  const doc = absolutiseRefs(loadOpenApiDocument()) as JsonObject;
  const ajv = new Ajv2020({
    allErrors: true,
    strict: true,
    // `type: [integer, 'null']` is how OpenAPI 3.1 spells nullable; keyword/type pairing is not checked.
    allowUnionTypes: true,
    strictTypes: false,
    discriminator: true,
  });
  addFormats(ajv);
  // The document's own top-level fields are not JSON Schema keywords: let Ajv carry them as annotations
  // so it can register the document and resolve pointers into `components`.
  for (const keyword of [
    'openapi',
    'info',
    'servers',
    'paths',
    'components',
    'security',
    'tags',
    'externalDocs',
    'webhooks',
    'jsonSchemaDialect',
  ]) {
    ajv.addKeyword(keyword);
  }
  ajv.addSchema({ ...doc, $id: ROOT_ID });

  const paths = asObject(doc['paths']) ?? {};
  const templates = Object.entries(paths).map(([template, item]) => ({
    template,
    regex: templateRegex(template),
    literalSegments: template.split('/').filter((s) => s !== '' && !s.startsWith('{')).length,
    item: asObject(item) ?? {},
  }));
  // Concrete paths win over templated ones (OpenAPI 3.1, "Path Templating"): `/policies/allow` before
  // `/policies/{policyId}`.
  templates.sort((a, b) => b.literalSegments - a.literalSegments);
  loaded = { doc, ajv, templates, compiled: new WeakMap() };
  return loaded;
}

/** Rewrites `#/...` refs to `ROOT_ID#/...` so any fragment compiles on its own. */
function absolutiseRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(absolutiseRefs);
  if (value === null || typeof value !== 'object') return value;
  const out: JsonObject = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = key === '$ref' && typeof v === 'string' && v.startsWith('#') ? ROOT_ID + v : absolutiseRefs(v);
  }
  return out;
}

function templateRegex(template: string): RegExp {
  const source = template
    .split('/')
    .map((segment) =>
      /^\{[^}]+\}$/.test(segment) ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('/');
  return new RegExp(`^${source}$`);
}

function asObject(value: unknown): JsonObject | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as JsonObject)
    : undefined;
}

/** Follows a `$ref` to a component (response, request body, parameter) until a plain object remains. */
function deref(ctx: Loaded, value: unknown): JsonObject | undefined {
  let current = asObject(value);
  for (let hops = 0; current && typeof current['$ref'] === 'string' && hops < 10; hops++) {
    const ref = current['$ref'];
    if (!ref.startsWith(`${ROOT_ID}#/`)) return undefined;
    let target: unknown = ctx.doc;
    for (const raw of ref.slice(ROOT_ID.length + 2).split('/')) {
      const segment = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      target = asObject(target)?.[segment];
    }
    current = asObject(target);
  }
  return current;
}

function stripQuery(path: string): string {
  const q = path.search(/[?#]/);
  return q === -1 ? path : path.slice(0, q);
}

type OperationMatch =
  | { kind: 'operation'; template: string; operation: JsonObject }
  | { kind: 'method-not-allowed'; template: string }
  | { kind: 'no-route' };

function findOperation(ctx: Loaded, method: string, path: string): OperationMatch {
  const concrete = stripQuery(path);
  const m = method.toLowerCase();
  const candidates = ctx.templates.filter((t) => t.regex.test(concrete));
  for (const candidate of candidates) {
    const operation = asObject(candidate.item[m]);
    if (operation) return { kind: 'operation', template: candidate.template, operation };
  }
  const first = candidates[0];
  return first ? { kind: 'method-not-allowed', template: first.template } : { kind: 'no-route' };
}

/** The response object for a status: exact code, then its range (`4XX`), then `default`. */
function responseFor(ctx: Loaded, operation: JsonObject, status: number): JsonObject | undefined {
  const responses = asObject(operation['responses']) ?? {};
  const raw = responses[String(status)] ?? responses[`${Math.floor(status / 100)}XX`] ?? responses['default'];
  return raw === undefined ? undefined : deref(ctx, raw);
}

function jsonSchemaOf(holder: JsonObject | undefined): JsonObject | undefined {
  const content = asObject(holder?.['content']);
  return asObject(asObject(content?.[JSON_MEDIA_TYPE])?.['schema']);
}

function validateAgainst(ctx: Loaded, schema: JsonObject, body: unknown, where: string): ValidationResult {
  let validate = ctx.compiled.get(schema);
  if (!validate) {
    validate = ctx.ajv.compile(schema);
    ctx.compiled.set(schema, validate);
  }
  if (validate(body)) return { ok: true };
  return { ok: false, errors: (validate.errors ?? []).map((e) => `${where}: ${describeError(e)}`) };
}

function describeError(error: ErrorObject): string {
  const at = error.instancePath === '' ? 'body' : `body${error.instancePath}`;
  const params =
    error.keyword === 'additionalProperties'
      ? ` (\`${String((error.params as { additionalProperty?: unknown }).additionalProperty)}\`)`
      : error.keyword === 'enum' || error.keyword === 'const'
        ? ` (${JSON.stringify(error.params)})`
        : '';
  return `${at} ${error.message ?? error.keyword}${params} [${error.schemaPath}]`;
}

/**
 * Validates an answer: `path` is concrete (`/agents/demo`, a query string is ignored). Fails when no
 * route matches, when the status is not documented for the operation, or when the body does not match
 * the response schema. A `405` for a method a known path does not have, and a `404` for a path no route
 * matches, are checked against the shared `MethodNotAllowed` and `NotFound` responses.
 */
export function validateResponse(
  method: string,
  path: string,
  status: number,
  body: unknown,
): ValidationResult {
  const ctx = load();
  const match = findOperation(ctx, method, path);
  const what = `${method.toUpperCase()} ${path} -> ${status}`;
  let response: JsonObject | undefined;
  if (match.kind === 'operation') {
    response = responseFor(ctx, match.operation, status);
    if (!response) {
      const documented = Object.keys(asObject(match.operation['responses']) ?? {}).join(', ');
      return {
        ok: false,
        errors: [
          `${what}: status ${status} is not documented for ${method.toUpperCase()} ${match.template} (documented: ${documented})`,
        ],
      };
    }
  } else if (match.kind === 'method-not-allowed' && status === 405) {
    response = deref(ctx, { $ref: `${ROOT_ID}#/components/responses/MethodNotAllowed` });
  } else if (match.kind === 'no-route' && status === 404) {
    response = deref(ctx, { $ref: `${ROOT_ID}#/components/responses/NotFound` });
  } else {
    const reason =
      match.kind === 'no-route'
        ? 'no documented path matches (only 404 is allowed)'
        : `${match.template} has no ${method.toUpperCase()} operation (only 405 is allowed)`;
    return { ok: false, errors: [`${what}: ${reason}`] };
  }
  const schema = jsonSchemaOf(response);
  if (!schema) {
    return body === undefined || body === null || body === ''
      ? { ok: true }
      : { ok: false, errors: [`${what}: the document describes no JSON body for this answer`] };
  }
  return validateAgainst(ctx, schema, body, what);
}

/** Validates a request body against the operation's documented `application/json` request body. */
export function validateRequestBody(method: string, path: string, body: unknown): ValidationResult {
  const ctx = load();
  const match = findOperation(ctx, method, path);
  const what = `${method.toUpperCase()} ${path} request`;
  if (match.kind !== 'operation') return { ok: false, errors: [`${what}: no such operation`] };
  const requestBody = deref(ctx, match.operation['requestBody']);
  const schema = jsonSchemaOf(requestBody);
  if (!schema) {
    return body === undefined
      ? { ok: true }
      : { ok: false, errors: [`${what}: ${method.toUpperCase()} ${match.template} takes no body`] };
  }
  if (body === undefined) {
    return requestBody?.['required'] === true
      ? { ok: false, errors: [`${what}: a body is required`] }
      : { ok: true };
  }
  return validateAgainst(ctx, schema, body, what);
}

/** Every operation of the document, so end-to-end tests can assert that each one was exercised. */
export function documentedOperations(): DocumentedOperation[] {
  const ctx = load();
  const operations: DocumentedOperation[] = [];
  for (const { template, item } of ctx.templates) {
    for (const method of METHODS) {
      const operation = asObject(item[method]);
      if (!operation) continue;
      const statuses = Object.keys(asObject(operation['responses']) ?? {})
        .map((key) => (/^[1-5]XX$/.test(key) ? Number(key[0]) * 100 : Number(key)))
        .filter((n) => Number.isInteger(n))
        .sort((a, b) => a - b);
      operations.push({ method: method.toUpperCase(), pathTemplate: template, statuses });
    }
  }
  return operations;
}
