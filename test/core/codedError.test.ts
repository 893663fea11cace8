import { describe, expect, it } from 'vitest';
import { BrokerError } from '../../brokers/BrokerError.js';
import { CodedError, hasCode } from '../../core/errors/CodedError.js';
import {
  ConflictError,
  InfrastructureError,
  ValidationError,
  ZT_ERROR_CODES,
  ZtError,
} from '../../core/errors/errors.js';
import { RecordFormatError } from '../../core/model/recordFormat.js';
import { McpProxyError } from '../../mcp/serverName.js';
import { GatewayError } from '../../sdk/errors.js';
import { ZeroTrustError } from '../../sdk/ZeroTrustClient.js';

describe('when errors of every family are made', () => {
  const cause = new Error('disk on fire');
  const made: CodedError[] = [
    new ValidationError('bad field'),
    new ConflictError('AGENT_EXISTS', 'agent `a` exists'),
    new InfrastructureError('STORE_UNAVAILABLE', 'the store is down', { cause }),
    new RecordFormatError('NOT_CANONICAL', 'not canonical', '$'),
    new GatewayError('TIMEOUT', 'no answer', { cause }),
    new ZeroTrustError('DENIED', 'denied'),
    new BrokerError('SANDBOX_UNSAFE', 'capabilities inside', { cause }),
    new McpProxyError('INVALID_SERVER_NAME', 'bad name'),
  ];

  it('each is a CodedError named after its class, with its code', () => {
    for (const error of made) {
      expect(error).toBeInstanceOf(CodedError);
      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe(error.constructor.name);
      expect(error.code).toMatch(/^[A-Z][A-Z0-9_]*$/);
    }
  });

  it('keeps the underlying failure as the standard cause', () => {
    expect(made.filter((e) => e.cause === cause).map((e) => e.name)).toEqual([
      'InfrastructureError',
      'GatewayError',
      'BrokerError',
    ]);
  });

  it('hasCode narrows on one or several codes, and refuses what is not a CodedError', () => {
    const [validation, conflict] = made;
    expect(hasCode(validation, 'VALIDATION_FAILED')).toBe(true);
    expect(hasCode(conflict, 'AGENT_EXISTS', 'PRINCIPAL_ALREADY_BOUND')).toBe(true);
    expect(hasCode(conflict, 'VALIDATION_FAILED')).toBe(false);
    expect(hasCode(Object.assign(new Error('x'), { code: 'AGENT_EXISTS' }), 'AGENT_EXISTS')).toBe(false);
    expect(hasCode('AGENT_EXISTS')).toBe(false);
  });
});

describe('when the gateway code union is read', () => {
  it('lists each code once', () => {
    expect(new Set(ZT_ERROR_CODES).size).toBe(ZT_ERROR_CODES.length);
  });

  it('toHaveCode passes on the code alone, for every family, and fails on another code or a plain error', async () => {
    expect(new ConflictError('AGENT_EXISTS', 'x')).toHaveCode('AGENT_EXISTS');
    expect(new BrokerError('DENIED', 'x')).not.toHaveCode('AGENT_EXISTS');
    expect(Object.assign(new Error('x'), { code: 'DENIED' })).not.toHaveCode('DENIED');
    await expect(Promise.reject(new GatewayError('TIMEOUT', 'x'))).rejects.toHaveCode('TIMEOUT');
    expect(() => expect(new ZeroTrustError('DENIED', 'no')).toHaveCode('TIMEOUT')).toThrow(
      'expected code TIMEOUT, got ZeroTrustError DENIED: no',
    );
  });

  it('a ZtError carries only a listed code (the type says so; this checks the runtime list agrees)', () => {
    const error = new ZtError('STORE_FULL', 'no space');
    expect(ZT_ERROR_CODES).toContain(error.code);
  });
});
