import { Construct } from 'constructs';
import { AssetType, Fn, TerraformAsset } from 'cdktf';
import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { LambdaAlias } from '@cdktf/provider-aws/lib/lambda-alias';
import { LambdaFunction } from '@cdktf/provider-aws/lib/lambda-function';
import { bundleFunction } from '../build/functions';
import { ENV, LIVE_ALIAS } from '../core/contract';
import { Grants, eniStatements, grantStatements, logStatement } from './iam-grants';
import { policyJson, serviceTrustPolicy } from './iam-statements';
import { functionLogGroup } from './log-queries';

export const LAMBDA_RUNTIME = 'nodejs22.x';
export const LAMBDA_ARCHITECTURE = 'arm64';

/**
 * Variables every function gets whatever its service: source-mapped stack traces, and the
 * RDS CA bundle the nodejs22.x runtime ships, so TLS to RDS is verified (docs/runtime-config.md).
 */
export const BASE_ENVIRONMENT: Record<string, string> = {
  NODE_OPTIONS: '--enable-source-maps',
  [ENV.nodeExtraCaCerts]: '/var/runtime/ca-cert.pem',
};

export interface KoaLambdaProps {
  /** Folder under `functions/` holding `handler.ts` (exports `handler`). */
  service: string;
  /** Full function name, e.g. `docplatform-dev-theme`. Also names the role and the log group. */
  functionName: string;
  description?: string;
  /** MB; the service's CPU share grows with it. Default 256. */
  memoryMb?: number;
  /** Seconds. Default 10; keep gateway functions under API Gateway's 29 s. */
  timeoutSeconds?: number;
  /** Cap on concurrent executions (and thus on RDS connections); undefined leaves the account pool. */
  reservedConcurrency?: number;
  /** Days CloudWatch keeps the function's logs. Default 14. */
  logRetentionDays?: number;
  /** Runtime variables (docs/runtime-config.md); merged over BASE_ENVIRONMENT. */
  environment?: Record<string, string>;
  /** The Region and account the function runs in: its role's ENI grants and trust name them. */
  region: string;
  accountId: string;
  /** Private subnets and security groups, for functions that reach RDS or Redis. */
  vpc?: { subnetIds: string[]; securityGroupIds: string[] };
  /** The only AWS actions the function may take besides writing its own logs. */
  grants?: Grants;
  /** Permissions boundary ARN the role carries (the CI deploy role only creates bounded roles). */
  permissionsBoundary?: string;
}

/**
 * A Koa service on Lambda: the esbuild bundle zipped as an asset, its log group (created first,
 * with retention, so Lambda never creates one that keeps logs forever), its own role with an
 * inline policy built from typed grants, a function that publishes a version on every change,
 * and the alias `live` that callers use (rollback = point the alias at an earlier version).
 */
export class KoaLambda extends Construct {
  readonly fn: LambdaFunction;
  readonly alias: LambdaAlias;
  readonly role: IamRole;
  readonly logGroup: CloudwatchLogGroup;
  private readonly environment: Record<string, string>;

  constructor(scope: Construct, id: string, props: KoaLambdaProps) {
    super(scope, id);
    this.environment = { ...BASE_ENVIRONMENT, ...props.environment };

    const bundle = bundleFunction(props.service);
    const asset = new TerraformAsset(this, 'bundle', { path: bundle.outDir, type: AssetType.ARCHIVE });

    this.logGroup = new CloudwatchLogGroup(this, 'logs', {
      name: functionLogGroup(props.functionName),
      retentionInDays: props.logRetentionDays ?? 14,
    });

    const functionArn = `arn:aws:lambda:${props.region}:${props.accountId}:function:${props.functionName}`;
    this.role = new IamRole(this, 'role', {
      name: props.functionName,
      description: `Execution role of the ${props.service} Lambda function`,
      // Lambda documents no source keys on the assumption of an execution role, and one reported
      // case (a function created in a new VPC) is refused by an aws:SourceArn condition: a source
      // Lambda names must be this function of this account, one it leaves out is not refused.
      assumeRolePolicy: serviceTrustPolicy('lambda.amazonaws.com', {
        accountId: props.accountId,
        arns: [functionArn, `${functionArn}:*`],
        require: 'whenNamed',
      }),
      permissionsBoundary: props.permissionsBoundary,
    });
    const statements = [logStatement(this.logGroup.arn), ...grantStatements(props.grants ?? {})];
    if (props.vpc) statements.push(...eniStatements({ region: props.region, accountId: props.accountId, ...props.vpc }));
    const policy = new IamRolePolicy(this, 'policy', {
      name: 'least-privilege',
      role: this.role.id,
      policy: policyJson(statements),
    });

    this.fn = new LambdaFunction(this, 'function', {
      functionName: props.functionName,
      description: props.description,
      role: this.role.arn,
      runtime: LAMBDA_RUNTIME,
      architectures: [LAMBDA_ARCHITECTURE],
      handler: 'handler.handler',
      filename: asset.path,
      sourceCodeHash: Fn.filebase64sha256(asset.path),
      memorySize: props.memoryMb ?? 256,
      timeout: props.timeoutSeconds ?? 10,
      reservedConcurrentExecutions: props.reservedConcurrency,
      publish: true,
      environment: { variables: this.environment },
      vpcConfig: props.vpc && { subnetIds: props.vpc.subnetIds, securityGroupIds: props.vpc.securityGroupIds },
      loggingConfig: { logFormat: 'Text', logGroup: this.logGroup.name },
      // CreateFunction in a VPC checks the role's ENI permissions, so the policy must exist first.
      dependsOn: [this.logGroup, policy],
    });

    // The construct id is part of the resource address (…_live_…): it stays 'live' whatever the alias is named.
    this.alias = new LambdaAlias(this, 'live', {
      name: LIVE_ALIAS,
      description: 'The version callers use; move it to roll back',
      functionName: this.fn.functionName,
      functionVersion: this.fn.version,
    });
  }

  /** Adds a variable known only once later constructs exist (e.g. a URL of the API in front). */
  addEnvironment(name: string, value: string): void {
    this.environment[name] = value;
    this.fn.putEnvironment({ variables: { ...this.environment } });
  }

  /** ARN callers invoke (the `live` alias), for lambda:InvokeFunction grants. */
  get liveArn(): string {
    return this.alias.arn;
  }
}
