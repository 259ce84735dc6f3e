import { App } from 'cdktf';
import { environments } from './stacks/config';
import { NetworkStack } from './stacks/network';
import { DataStack } from './stacks/data';
import { ComputeStack } from './stacks/compute';
import { EdgeStack } from './stacks/edge';
import { BootstrapStack } from './stacks/bootstrap';

/**
 * One set of layers per environment (`<env>-<layer>`, deployed network → data → compute →
 * edge), plus the account-level bootstrap. Values cross stacks as cdktf references, which
 * become outputs and `terraform_remote_state` reads of the upstream state in S3.
 */
const app = new App();

new BootstrapStack(app, 'bootstrap');

for (const config of Object.values(environments)) {
  const network = new NetworkStack(app, `${config.env}-network`, config);
  const data = new DataStack(app, `${config.env}-data`, config, network);
  const compute = new ComputeStack(app, `${config.env}-compute`, config, network, data);
  new EdgeStack(app, `${config.env}-edge`, config, compute.api);
}

app.synth();
