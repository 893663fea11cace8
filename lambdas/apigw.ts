/**
 * The parts of an API Gateway REST (v1) Lambda proxy event and result that the handlers use.
 * Shapes follow AWS's documented `APIGatewayProxyEvent`; the emulator builds the same objects.
 */
export interface ApiGatewayIdentity {
  userArn?: string | null;
  accountId?: string | null;
  caller?: string | null;
  accessKey?: string | null;
  sourceIp?: string | null;
  userAgent?: string | null;
}

export interface ApiGatewayProxyEvent {
  resource: string;
  path: string;
  httpMethod: string;
  headers: Record<string, string | undefined> | null;
  multiValueHeaders?: Record<string, string[] | undefined> | null;
  queryStringParameters: Record<string, string | undefined> | null;
  multiValueQueryStringParameters?: Record<string, string[] | undefined> | null;
  pathParameters: Record<string, string | undefined> | null;
  stageVariables?: Record<string, string | undefined> | null;
  requestContext: {
    requestId: string;
    stage?: string;
    httpMethod?: string;
    path?: string;
    resourcePath?: string;
    accountId?: string;
    apiId?: string;
    requestTimeEpoch?: number;
    identity: ApiGatewayIdentity;
  };
  body: string | null;
  isBase64Encoded: boolean;
}

export interface ApiGatewayProxyResult {
  statusCode: number;
  headers?: Record<string, string>;
  body: string;
  isBase64Encoded?: boolean;
}
