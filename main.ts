import { App } from 'cdktf';
import { environments } from './stacks/config';
import { environmentStacks } from './stacks/app';
import { BootstrapStack } from './stacks/bootstrap';

/** One set of layers per environment (stacks/app.ts), plus the account-level bootstrap. */
const app = new App();

new BootstrapStack(app, 'bootstrap');

for (const config of Object.values(environments)) environmentStacks(app, config);

app.synth();
