import type { DecisionClient } from '../../brokers/contract.js';
import { ZeroTrustError } from '../../sdk/index.js';

/**
 * A client that records every call and answers none (each call fails as if the gateway were down), for
 * tests where the gateway must never be asked.
 */
export function recordingClient(): DecisionClient & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    decide: async (request) => {
      calls.push(`decide ${request.action}`);
      throw new ZeroTrustError('CONNECTION_FAILED', 'the recording client answers nothing');
    },
    reportOutcome: async (recordId, outcome) => {
      calls.push(`report ${recordId} ${outcome.status}`);
      throw new ZeroTrustError('CONNECTION_FAILED', 'the recording client answers nothing');
    },
  };
}
