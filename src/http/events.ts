/**
 * The parts of the AWS Lambda event shapes the handlers read (API Gateway HTTP API payload v2, S3 notification,
 * EventBridge schedule). Declared here instead of depending on @types/aws-lambda.
 */
export interface HttpEvent {
  readonly version?: string;
  readonly routeKey?: string;
  readonly rawPath?: string;
  readonly headers?: Readonly<Record<string, string | undefined>>;
  readonly queryStringParameters?: Readonly<Record<string, string | undefined>>;
  readonly pathParameters?: Readonly<Record<string, string | undefined>>;
  readonly body?: string | null;
  readonly isBase64Encoded?: boolean;
  readonly requestContext?: { readonly requestId?: string; readonly http?: { readonly method?: string; readonly path?: string } };
}

/** The part of the Lambda context object the handlers read: the invocation's id (Lambda's START/END/REPORT lines). */
export interface LambdaContext {
  readonly awsRequestId?: string;
  readonly getRemainingTimeInMillis?: () => number;
}

export interface HttpResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded?: boolean;
}

export interface S3EventRecord {
  readonly eventSource?: string;
  readonly eventName?: string;
  readonly s3?: { readonly bucket?: { readonly name?: string }; readonly object?: { readonly key?: string; readonly size?: number } };
}

export interface S3Event {
  readonly Records?: readonly S3EventRecord[];
}

export interface ScheduleEvent {
  readonly source?: string;
  readonly time?: string;
  /** Serverless `schedule: { input: {...} }` replaces the event with this object; we accept `{tenant?, audit?}`. */
  readonly audit?: string;
  readonly tenant?: string;
}
