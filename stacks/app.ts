import { App } from 'cdktf';
import { EnvironmentConfig } from './config';
import { NetworkStack } from './network';
import { DataStack } from './data';
import { ComputeStack } from './compute';
import { EdgeStack } from './edge';

/**
 * The layers of one environment (`<env>-<layer>`, deployed network → data → compute → edge).
 * Values cross stacks as cdktf references, which become outputs and `terraform_remote_state`
 * reads of the upstream state in S3.
 */
export function environmentStacks(app: App, config: EnvironmentConfig): void {
  const network = new NetworkStack(app, `${config.env}-network`, config);
  const data = new DataStack(app, `${config.env}-data`, config, network);
  const compute = new ComputeStack(app, `${config.env}-compute`, config, network, data);
  new EdgeStack(app, `${config.env}-edge`, config, compute.api);
}
