/**
 * One matcher for every coded error: `expect(error).toHaveCode('AGENT_EXISTS')`, or
 * `await expect(promise).rejects.toHaveCode('DENIED')`. It passes only for a `CodedError` (any family:
 * gateway, SDK, broker, MCP proxy) with that code, and says what came otherwise. Loaded for both tiers
 * (vitest.config.ts, `setupFiles`).
 */
import { expect } from 'vitest';
import { CodedError } from '../../core/errors/CodedError.js';

expect.extend({
  toHaveCode(received: unknown, code: string) {
    const isCoded = received instanceof CodedError;
    const got = isCoded ? `${received.name} ${received.code}: ${received.message}` : String(received);
    return {
      pass: isCoded && received.code === code,
      message: () =>
        this.isNot ? `expected no error with code ${code}, got ${got}` : `expected code ${code}, got ${got}`,
    };
  },
});

declare module 'vitest' {
  // biome-ignore lint/suspicious/noExplicitAny: the declaration merges with vitest's, which has `T = any`
  interface Matchers<T = any> {
    /** A `CodedError` (any family) with exactly this code. */
    toHaveCode(code: string): T;
  }
}
