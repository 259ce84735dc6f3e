import { Construct } from 'constructs';
import { Fn, ITerraformDependable } from 'cdktf';
import { ApiGatewayAccount } from '@cdktf/provider-aws/lib/api-gateway-account';
import { ApiGatewayDeployment } from '@cdktf/provider-aws/lib/api-gateway-deployment';
import { ApiGatewayGatewayResponse } from '@cdktf/provider-aws/lib/api-gateway-gateway-response';
import { ApiGatewayIntegration } from '@cdktf/provider-aws/lib/api-gateway-integration';
import { ApiGatewayMethod } from '@cdktf/provider-aws/lib/api-gateway-method';
import { ApiGatewayMethodSettings } from '@cdktf/provider-aws/lib/api-gateway-method-settings';
import { ApiGatewayResource } from '@cdktf/provider-aws/lib/api-gateway-resource';
import { ApiGatewayRestApi } from '@cdktf/provider-aws/lib/api-gateway-rest-api';
import { ApiGatewayStage } from '@cdktf/provider-aws/lib/api-gateway-stage';
import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicyAttachment } from '@cdktf/provider-aws/lib/iam-role-policy-attachment';
import { LambdaPermission } from '@cdktf/provider-aws/lib/lambda-permission';
import { LIVE_ALIAS } from '../core/contract';
import { GATEWAY_RESPONSES } from './api-routes';
import { KoaLambda } from './koa-lambda';
import { assumeRolePolicy } from './iam-statements';

/** AWS's managed policy for the account-level role API Gateway writes logs with. */
export const API_GATEWAY_LOGS_POLICY_ARN = 'arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs';

/** One JSON line per request, the fields ops filter on (WAF verdict and integration latency included). */
export const ACCESS_LOG_FORMAT = JSON.stringify({
  requestId: '$context.requestId',
  ip: '$context.identity.sourceIp',
  time: '$context.requestTimeEpoch',
  method: '$context.httpMethod',
  path: '$context.path',
  resourcePath: '$context.resourcePath',
  status: '$context.status',
  responseLength: '$context.responseLength',
  latencyMs: '$context.responseLatency',
  integrationLatencyMs: '$context.integration.latency',
  integrationStatus: '$context.integration.status',
  waf: '$context.waf.status',
  error: '$context.error.message',
  userAgent: '$context.identity.userAgent',
});

export interface ApiRoute {
  /** One path segment under the root, e.g. `b2c` or `health`. */
  path: string;
  /** `ANY` with `proxy` for a whole subtree, or one HTTP method for an exact path. */
  method: string;
  /** Route `/<path>/{proxy+}` (every path below) instead of `/<path>` itself. */
  proxy: boolean;
  /** The function whose `live` alias serves the route. */
  target: KoaLambda;
}

export interface LambdaRestApiProps {
  name: string;
  region: string;
  stageName: string;
  routes: ApiRoute[];
  throttle: { rateLimit: number; burstLimit: number };
  logRetentionDays: number;
  /** Content types API Gateway passes base64-encoded (must match what the handlers encode). */
  binaryMediaTypes: string[];
  /** Resources the stage must wait for (the account-level logging role when this stack owns it). */
  stageDependsOn?: ITerraformDependable[];
}

/**
 * A regional REST API whose routes are Lambda proxy integrations on `live` aliases. Each alias
 * gets a permission scoped to this API, this stage and its own route only. The deployment is
 * replaced (create before destroy) whenever a route or integration changes, and the stage
 * throttles every method and writes JSON access logs to a log group with retention.
 */
export class LambdaRestApi extends Construct {
  readonly api: ApiGatewayRestApi;
  readonly stage: ApiGatewayStage;
  readonly accessLogs: CloudwatchLogGroup;
  private readonly region: string;

  constructor(scope: Construct, id: string, props: LambdaRestApiProps) {
    super(scope, id);
    this.region = props.region;
    this.api = new ApiGatewayRestApi(this, 'api', {
      name: props.name,
      description: 'Public API: /b2c and /b2b gateways',
      endpointConfiguration: { types: ['REGIONAL'] },
      binaryMediaTypes: props.binaryMediaTypes,
    });

    const fingerprint: string[] = [];
    const integrations: ApiGatewayIntegration[] = [];
    for (const route of props.routes) {
      const key = `${route.path}-${route.proxy ? 'proxy' : route.method.toLowerCase()}`;
      const base = new ApiGatewayResource(this, `${route.path}-resource`, {
        restApiId: this.api.id,
        parentId: this.api.rootResourceId,
        pathPart: route.path,
      });
      const resource = route.proxy
        ? new ApiGatewayResource(this, `${route.path}-proxy-resource`, { restApiId: this.api.id, parentId: base.id, pathPart: '{proxy+}' })
        : base;
      const method = new ApiGatewayMethod(this, `${key}-method`, {
        restApiId: this.api.id,
        resourceId: resource.id,
        httpMethod: route.method,
        authorization: 'NONE',
      });
      const integration = new ApiGatewayIntegration(this, `${key}-integration`, {
        restApiId: this.api.id,
        resourceId: resource.id,
        httpMethod: method.httpMethod,
        type: 'AWS_PROXY',
        integrationHttpMethod: 'POST',
        uri: route.target.alias.invokeArn,
      });
      integrations.push(integration);
      fingerprint.push(resource.id, method.id, integration.id, integration.uri);

      const methodArn = route.method === 'ANY' ? '*' : route.method;
      new LambdaPermission(this, `${key}-permission`, {
        statementId: `api-${props.name}-${key}`,
        action: 'lambda:InvokeFunction',
        principal: 'apigateway.amazonaws.com',
        functionName: route.target.fn.functionName,
        qualifier: LIVE_ALIAS,
        sourceArn: `${this.api.executionArn}/${props.stageName}/${methodArn}/${route.path}${route.proxy ? '/*' : ''}`,
      });
    }

    // Gateway responses take effect with a deployment only: each is in the fingerprint.
    const responses = GATEWAY_RESPONSES.map((r) => {
      const response = new ApiGatewayGatewayResponse(this, `response-${r.type.toLowerCase()}`, {
        restApiId: this.api.id,
        responseType: r.type,
        ...('statusCode' in r ? { statusCode: r.statusCode } : {}),
        responseTemplates: { 'application/json': r.template },
        ...('headers' in r ? { responseParameters: Object.fromEntries(Object.entries(r.headers).map(([name, value]) => [`gatewayresponse.header.${name}`, value])) } : {}),
      });
      fingerprint.push(response.id);
      return response;
    });

    const deployment = new ApiGatewayDeployment(this, 'deployment', {
      restApiId: this.api.id,
      description: 'Routes snapshot; replaced when a route or a gateway response changes',
      triggers: { redeployment: Fn.sha1(Fn.jsonencode([...fingerprint, ...props.binaryMediaTypes])) },
      lifecycle: { createBeforeDestroy: true },
      dependsOn: [...integrations, ...responses],
    });

    this.accessLogs = new CloudwatchLogGroup(this, 'access-logs', {
      name: `/aws/apigateway/${props.name}/access`,
      retentionInDays: props.logRetentionDays,
    });

    this.stage = new ApiGatewayStage(this, 'stage', {
      restApiId: this.api.id,
      stageName: props.stageName,
      deploymentId: deployment.id,
      accessLogSettings: { destinationArn: this.accessLogs.arn, format: ACCESS_LOG_FORMAT },
      xrayTracingEnabled: false,
      dependsOn: props.stageDependsOn,
    });

    new ApiGatewayMethodSettings(this, 'throttling', {
      restApiId: this.api.id,
      stageName: this.stage.stageName,
      methodPath: '*/*',
      settings: {
        throttlingRateLimit: props.throttle.rateLimit,
        throttlingBurstLimit: props.throttle.burstLimit,
        // Detailed per-method metrics and execution logs are billed CloudWatch usage; access logs suffice.
        metricsEnabled: false,
        loggingLevel: 'OFF',
      },
    });
  }

  /** Host name of the stage's invoke URL (the CloudFront origin). */
  get domainName(): string {
    return `${this.api.id}.execute-api.${this.region}.amazonaws.com`;
  }
}

/**
 * API Gateway writes access logs with one role per account and region (`aws_api_gateway_account`).
 * Exactly one stack per account must own it; the config says which (`api.ownsAccountLogRole`).
 */
export class ApiGatewayAccountLogging extends Construct {
  readonly account: ApiGatewayAccount;

  constructor(scope: Construct, id: string, props: { roleName: string; permissionsBoundary?: string }) {
    super(scope, id);
    const role = new IamRole(this, 'role', {
      name: props.roleName,
      description: 'API Gateway (account-wide) writes access logs to CloudWatch Logs',
      assumeRolePolicy: assumeRolePolicy('apigateway.amazonaws.com'),
      permissionsBoundary: props.permissionsBoundary,
    });
    const attachment = new IamRolePolicyAttachment(this, 'push-to-logs', { role: role.name, policyArn: API_GATEWAY_LOGS_POLICY_ARN });
    // reset_on_delete: destroying the stack clears the account setting instead of leaving it
    // pointing at the deleted role.
    this.account = new ApiGatewayAccount(this, 'account', { cloudwatchRoleArn: role.arn, resetOnDelete: true, dependsOn: [attachment] });
  }
}
