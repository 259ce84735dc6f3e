import { App } from 'cdktf';
import { environments } from './stacks/config';
import { NetworkStack } from './stacks/network';
import { DataStack } from './stacks/data';
import { EdgeStack } from './stacks/edge';
import { BootstrapStack } from './stacks/bootstrap';

/** One set of layers per environment (`<env>-<layer>`), plus the account-level bootstrap. */
const app = new App();

new BootstrapStack(app, 'bootstrap');

for (const config of Object.values(environments)) {
  const network = new NetworkStack(app, `${config.env}-network`, config);
  new DataStack(app, `${config.env}-data`, config, network);
  new EdgeStack(app, `${config.env}-edge`, { ...config, edge: { ...config.edge, apiBehaviour: false } });
}

app.synth();
