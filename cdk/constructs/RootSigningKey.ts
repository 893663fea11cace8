import { Duration, RemovalPolicy, type Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { acknowledge } from '../nag.js';

/*
 * The root of trust: one KMS P-256 signing key that certifies the functions' session keys and signs
 * checkpoints, and the key policy that keeps `kms:Sign` to those functions. A plain class, not a construct:
 * the key is added to the stack itself, so its construct id (`RootKey`) and logical id stay what they were.
 * A replaced key would lose every verifier's trusted root.
 */

/** What the key policy lets the account's IAM policies grant on the root key (no `kms:*`, no grants). */
export const ROOT_KEY_DELEGATED_ACTIONS = [
  'kms:Sign',
  'kms:GetPublicKey',
  'kms:DescribeKey',
  'kms:GetKeyPolicy',
  'kms:PutKeyPolicy',
  'kms:GetKeyRotationStatus',
  'kms:ListKeyPolicies',
  'kms:ListResourceTags',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:EnableKey',
  'kms:DisableKey',
  'kms:UpdateKeyDescription',
  'kms:CreateAlias',
  'kms:UpdateAlias',
  'kms:DeleteAlias',
  'kms:ScheduleKeyDeletion',
  'kms:CancelKeyDeletion',
];

/** The stack's root signing key (`RootKey`, retained), aliased `alias/zt-infra/<service>/root`. */
export class RootSigningKey {
  readonly key: kms.Key;

  constructor(stack: Stack, props: { service: string }) {
    this.key = new kms.Key(stack, 'RootKey', {
      keySpec: kms.KeySpec.ECC_NIST_P256,
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      alias: `alias/zt-infra/${props.service}/root`,
      description: 'zt-infra root signing key: certifies session keys and signs checkpoints',
      removalPolicy: RemovalPolicy.RETAIN,
      pendingWindow: Duration.days(30),
    });
    acknowledge(
      this.key,
      'AwsSolutions-KMS5',
      'an asymmetric ECC_NIST_P256 SIGN_VERIFY key cannot rotate automatically; rotation is a new key whose public key verifiers add to their trusted roots',
    );
  }

  /**
   * Lets `signers` sign with the key and read its public key, and `readers` read the public key only;
   * narrows the key policy's delegation to IAM ({@link ROOT_KEY_DELEGATED_ACTIONS}) and denies `kms:Sign`
   * to everyone but `signers`. Called once, with every signer.
   */
  allowSigners(signers: readonly iam.Role[], readers: readonly iam.Role[]): void {
    for (const role of signers) {
      this.key.grantSign(role);
      this.key.grant(role, 'kms:GetPublicKey');
    }
    for (const role of readers) this.key.grant(role, 'kms:GetPublicKey');
    // The default key policy delegates `kms:*` to the account's IAM policies; narrow it to what IAM may
    // delegate here: administration and the two key uses, never grants (a grant could hand out kms:Sign).
    (this.key.node.defaultChild as kms.CfnKey).addPropertyOverride(
      'KeyPolicy.Statement.0.Action',
      ROOT_KEY_DELEGATED_ACTIONS,
    );
    // INVARIANT: kms:Sign only by the signing functions, whatever IAM policies the account adds later.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenySignExceptGatewayFunctions',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['kms:Sign'],
        resources: ['*'],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': signers.map((r) => r.roleArn) } },
      }),
    );
  }
}
