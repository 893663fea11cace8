import { type CfnElement, Stack, Token, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges one cdk-nag AwsSolutions finding on a construct, with the reason it is accepted. cdk-nag 3
 * names findings `AwsSolutions::<rule>` or, for rules that report several, `AwsSolutions::<rule>[<finding>]`,
 * and matches them exactly (no prefix matching): each wildcard is acknowledged on its own.
 */
export function acknowledge(scope: IConstruct, rule: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions::${rule}`, reason });
}

/** The logical id of a construct's CloudFormation resource, as cdk-nag writes it inside a finding (`<Id>`). */
export function logicalIdOf(scope: IConstruct): string {
  const stack = Stack.of(scope);
  return stack.resolve(stack.getLogicalId(scope.node.defaultChild as CfnElement)) as string;
}

/** The finding id cdk-nag gives a wildcard `execute-api` ARN of `api` (stage, method, path with `*`). */
export function executeApiFinding(api: IConstruct, stage: string, method: string, path: string): string {
  // a stack with an explicit env (the CLI passes the default region) has literal region/account in its ARNs
  const stack = Stack.of(api);
  const region = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
  const account = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
  return `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:${region}:${account}:<${logicalIdOf(api)}>/${stage}/${method}${path}]`;
}
