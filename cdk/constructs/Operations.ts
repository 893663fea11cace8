import { Duration, type Stack } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type { RouteGroup } from '../../core/model/index.js';
import { acknowledge } from '../nag.js';

/*
 * What tells someone the gateway is failing closed: the alarm topic and the alarms on the API, the
 * functions and the metrics the handlers emit (signing, appends, checkpoints, pending approvals, deny
 * bursts). A plain class, not a construct: the topic, alarms and insight rule are added to the stack
 * itself, so their construct paths and logical ids stay the stack's as before (construct ids are a public
 * contract).
 */

/** What the alarms watch, and where they go. */
export interface OperationsProps {
  /** The stack name: alarm and rule names start with it, and it is the `Service` dimension of the metrics. */
  readonly service: string;
  /** The namespace of the metrics the functions emit (EMF). */
  readonly metricsNamespace: string;
  /** Denies per minute from one principal that raise `DenyBurstAlarm`. */
  readonly denyBurstThreshold: number;
  /** How long an approval may wait before `ApprovalsPendingTooLongAlarm` fires. */
  readonly approvalPendingAlarmAfter: Duration;
  /** An e-mail address subscribed to the alarm topic. */
  readonly alarmEmail?: string | undefined;
  readonly api: apigw.RestApi;
  /** The API's functions, one per route group: their logs feed the deny-burst rule. */
  readonly functions: Record<RouteGroup, lambda.Function>;
  readonly checkpointFunction: lambda.Function;
}

/** The alarm topic (`AlarmTopic`) and every alarm, each sending to it. */
export class Operations {
  readonly alarmTopic: sns.Topic;
  readonly #stack: Stack;

  constructor(stack: Stack, props: OperationsProps) {
    this.#stack = stack;
    this.alarmTopic = new sns.Topic(stack, 'AlarmTopic', {
      displayName: 'zt-infra alarms',
      enforceSSL: true,
    });
    acknowledge(
      this.alarmTopic,
      'AwsSolutions-SNS2',
      'alarm notifications carry alarm names and states, no secrets or records; CloudWatch cannot publish to a topic encrypted with the AWS managed SNS key, and a customer key would cost more than the topic',
    );
    if (props.alarmEmail) {
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    }
    this.#alarms(props);
  }

  #alarms(o: OperationsProps): void {
    const action = new cwActions.SnsAction(this.alarmTopic);
    const minute = Duration.minutes(1);
    const custom = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: o.metricsNamespace,
        metricName,
        dimensionsMap: { Service: o.service },
        statistic: cloudwatch.Stats.SUM,
        period: minute,
      });
    const alarm = (id: string, props: cloudwatch.AlarmProps) => {
      const a = new cloudwatch.Alarm(this.#stack, id, {
        // named after the stack: two stacks in one account never share an alarm name
        alarmName: `${o.service}-${id.replace(/Alarm$/, '')}`,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        ...props,
      });
      a.addAlarmAction(action);
      return a;
    };

    // The checkpoint function measures the pending approvals every minute (EMF): an agent waiting on a
    // human longer than this gets someone's attention. No data (no run) is not a breach; CheckpointFailures
    // already watches the runs.
    alarm('ApprovalsPendingTooLongAlarm', {
      alarmDescription: `an approval_required request has waited for approvers more than ${o.approvalPendingAlarmAfter.toMinutes()} minutes`,
      metric: new cloudwatch.Metric({
        namespace: o.metricsNamespace,
        metricName: 'OldestPendingApprovalSeconds',
        dimensionsMap: { Service: o.service },
        statistic: cloudwatch.Stats.MAXIMUM,
        period: Duration.minutes(5),
      }),
      threshold: o.approvalPendingAlarmAfter.toSeconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
    });

    alarm('Api5xxRateAlarm', {
      alarmDescription: 'more than 1% of API requests answered 5xx (each is a deny without a record)',
      metric: new cloudwatch.MathExpression({
        expression: 'IF(requests > 0, 100 * errors / requests, 0)',
        usingMetrics: {
          errors: o.api.metricServerError({ period: minute, statistic: cloudwatch.Stats.SUM }),
          requests: o.api.metricCount({ period: minute, statistic: cloudwatch.Stats.SUM }),
        },
        period: minute,
        label: '5xx %',
      }),
      threshold: 1,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
    alarm('SigningFailuresAlarm', {
      alarmDescription: 'KMS signing failed (session key certification or checkpoint): decisions are denied',
      metric: custom('SigningFailures'),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    alarm('AppendFailuresAlarm', {
      alarmDescription:
        'chain appends failed (store unavailable or contention exhausted): decisions are denied',
      metric: custom('AppendFailures'),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    alarm('AppendConflictsAlarm', {
      alarmDescription:
        'sustained chain-append retries: more than 100 lost head races a minute means one chain is near its write ceiling',
      metric: custom('AppendConflicts'),
      threshold: 100,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
    alarm('CheckpointFailuresAlarm', {
      alarmDescription: 'no checkpoint signed and archived for 5 minutes: a cut tail would go unnoticed',
      metric: new cloudwatch.MathExpression({
        expression: 'failures + errors',
        usingMetrics: {
          failures: custom('CheckpointFailures'),
          errors: o.checkpointFunction.metricErrors({ period: minute, statistic: cloudwatch.Stats.SUM }),
        },
        period: minute,
      }),
      threshold: 1,
      evaluationPeriods: 5,
      datapointsToAlarm: 5,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    const fns = [...Object.values(o.functions), o.checkpointFunction];
    const throttleMetrics: Record<string, cloudwatch.IMetric> = {};
    fns.forEach((fn, i) => {
      throttleMetrics[`t${i}`] = fn.metricThrottles({ period: minute, statistic: cloudwatch.Stats.SUM });
    });
    alarm('ThrottlesAlarm', {
      alarmDescription: 'Lambda invocations throttled (account concurrency): throttled requests are denied',
      metric: new cloudwatch.MathExpression({
        expression: Object.keys(throttleMetrics).join(' + '),
        usingMetrics: throttleMetrics,
        period: minute,
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    alarm('ApiThrottlesAlarm', {
      alarmDescription: 'API Gateway answered 4xx in bulk (stage throttling answers 429): check the callers',
      metric: o.api.metricClientError({ period: minute, statistic: cloudwatch.Stats.SUM }),
      threshold: 500,
      evaluationPeriods: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    });

    // A burst of denies for one principal: a Contributor Insights rule over the decision metric lines
    // (`principal` is the verified caller), alarmed on its top contributor.
    const rule = new cloudwatch.CfnInsightRule(this.#stack, 'DenyBurstRule', {
      ruleName: `${o.service}-denies-by-principal`,
      ruleState: 'ENABLED',
      ruleBody: JSON.stringify({
        Schema: { Name: 'CloudWatchLogRule', Version: 1 },
        LogGroupNames: Object.values(o.functions).map((fn) => fn.logGroup.logGroupName),
        LogFormat: 'JSON',
        Contribution: {
          Keys: ['$.principal'],
          Filters: [{ Match: '$.decision', In: ['deny'] }],
        },
        AggregateOn: 'Count',
      }),
    });
    alarm('DenyBurstAlarm', {
      alarmDescription: `one principal was denied more than ${o.denyBurstThreshold} times in a minute`,
      metric: new cloudwatch.MathExpression({
        expression: `INSIGHT_RULE_METRIC('${rule.attrRuleName}', 'MaxContributorValue')`,
        usingMetrics: {},
        period: minute,
      }),
      threshold: o.denyBurstThreshold,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
  }
}
