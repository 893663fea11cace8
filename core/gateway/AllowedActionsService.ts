import { ForbiddenError, InfrastructureError, ZtError } from '../errors/errors.js';
import type { LaneWriter } from '../log/LaneWriter.js';
import type { Caller } from '../model/caller.js';
import { SIGNATURE_ALGORITHM } from '../model/records.js';
import type { Clock, LaneSigner, PolicyEvaluator } from '../ports/ports.js';
import {
  ALLOWED_ANSWER_SCHEMA,
  type AllowedActionsAnswer,
  actionsDigest,
  allowedAnswerPayload,
  parseAllowedActionsRequest,
} from './allowedActions.js';
import type { Configuration } from './Configuration.js';

/**
 * `POST /actions/allowed`: which of the actions an agent names it may be allowed, signed, recording
 * nothing. The answer is computed from the caller's own (action, agent) slices of the policy set only
 * (`PolicyEvaluator.mayAllow`), so it says nothing about any other agent's policies.
 */
export class AllowedActionsService {
  constructor(
    private readonly deps: {
      config: Configuration;
      policies: PolicyEvaluator;
      writer: LaneWriter;
      keys: Pick<LaneSigner, 'signerFor'>;
      clock: Clock;
    },
  ) {}

  /**
   * Answers for the authenticated agent. A principal that is no registered agent, a disabled agent, or an
   * `actor` that is not the caller's agent is a 403 without anything recorded.
   *
   * INVARIANT: answering writes no decision, outcome or any record naming the caller or the actions; at
   * most a session key's certificate when this instance had none yet (the one its first decision writes).
   */
  async answer(caller: Caller, body: unknown): Promise<AllowedActionsAnswer> {
    const request = parseAllowedActionsRequest(body);
    // The configuration as it is now (a fresh read of its version), not a cached snapshot: an answered
    // admin change is in every later answer.
    const current = await this.deps.config.readVersion();
    const { snapshot, agent } = await this.deps.config.agentFor(caller.principalArn, current.version);
    if (!agent) throw new ForbiddenError(`principal \`${caller.principalArn}\` is not a registered agent`);
    if (agent.status !== 'active') throw new ForbiddenError(`agent \`${agent.agentId}\` is disabled`);
    if (agent.agentId !== request.actor) {
      throw new ForbiddenError(
        `\`actor\` \`${request.actor}\` is not the agent of the authenticated principal`,
      );
    }
    const allowed = request.actions.filter((action) =>
      this.deps.policies.mayAllow(snapshot.enforced, action, agent.agentId),
    );
    const signer = await this.#signer();
    const unsigned = {
      schema: ALLOWED_ANSWER_SCHEMA,
      actor: agent.agentId,
      principal_arn: caller.principalArn,
      nonce: request.nonce,
      actions_sha256: actionsDigest(request.actions),
      allowed,
      config_version: snapshot.version,
      timestamp: signer.at.toISOString(),
      signing_key_id: signer.signer.keyId,
    } satisfies Omit<AllowedActionsAnswer, 'signature'>;
    let signature: string;
    try {
      signature = await signer.signer.sign(Buffer.from(allowedAnswerPayload(unsigned), 'utf8'));
    } catch (cause) {
      throw new InfrastructureError('SIGNING_FAILED', 'could not sign the answer', { cause });
    }
    return {
      ...unsigned,
      signature: { algorithm: SIGNATURE_ALGORITHM, key_id: signer.signer.keyId, signature },
    };
  }

  /**
   * The session key certified in this instance's lane for now: the key that signs its records, whose
   * certificate any client can fetch from `GET /keys`. `ready()` certifies one first when none is fresh.
   */
  async #signer() {
    try {
      await this.deps.writer.ready();
      const lane = this.deps.writer.lane;
      if (lane === null) throw new Error('this instance holds no lane');
      const at = this.deps.clock.now();
      return { signer: await this.deps.keys.signerFor(lane, at), at };
    } catch (cause) {
      if (cause instanceof ZtError) throw cause;
      throw new InfrastructureError('SIGNING_FAILED', 'no signing key is ready', { cause });
    }
  }
}
