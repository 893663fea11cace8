import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { systemClock } from '../core/ports.js';
import { DynamoDbKeyValueStore } from './adapters/DynamoDbKeyValueStore.js';
import { KmsSigner } from './adapters/KmsSigner.js';
import type { ApiGatewayProxyEvent, ApiGatewayProxyResult } from './apigw.js';
import { createApiHandler } from './http.js';
import { wireGateway } from './wiring.js';

/**
 * Lambda entry for every API route. Configuration comes from the environment at cold start:
 * `TABLE_NAME`, `ROOT_KEY_ARN`, `ADMIN_PRINCIPAL_ARNS` (comma-separated role ARNs), optional
 * `CHAIN` and `CHECKPOINT_ORIGIN`. A missing setting fails the cold start, so nothing is answered.
 */
function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is required`);
  return value;
}

let ready: Promise<(event: ApiGatewayProxyEvent) => Promise<ApiGatewayProxyResult>> | null = null;

async function init() {
  const region = process.env['AWS_REGION'];
  const store = new DynamoDbKeyValueStore({
    client: new DynamoDBClient(region ? { region } : {}),
    tableName: required('TABLE_NAME'),
  });
  const rootArn = required('ROOT_KEY_ARN');
  const rootSigner = await KmsSigner.create(new KMSClient(region ? { region } : {}), rootArn);
  const chain = process.env['CHAIN'] ?? 'main';
  const parts = wireGateway({
    store,
    rootSigner,
    clock: systemClock,
    gatewayPrincipal:
      process.env['GATEWAY_PRINCIPAL_ARN'] ?? `lambda:${process.env['AWS_LAMBDA_FUNCTION_NAME'] ?? 'zt'}`,
    chain,
    origin: process.env['CHECKPOINT_ORIGIN'] ?? `zt-infra/${chain}`,
    rootArn,
  });
  return createApiHandler({
    gateway: parts.gateway,
    checkpoints: parts.checkpointer,
    adminPrincipalArns: required('ADMIN_PRINCIPAL_ARNS')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    log: (line) => console.log(JSON.stringify(line)),
    logError: (traceId, error) =>
      console.error(
        JSON.stringify({ level: 'error', msg: 'internal error', trace_id: traceId, error: String(error) }),
      ),
  });
}

export async function handler(event: ApiGatewayProxyEvent): Promise<ApiGatewayProxyResult> {
  ready ??= init().catch((error) => {
    ready = null; // a failed cold start is retried by the next invocation
    throw error;
  });
  return (await ready)(event);
}
