import { App } from 'cdktf';
import { environmentStacks } from '../../stacks/app';
import { SYNTH_VARIANTS, SynthVariant, variantEnvironments } from './synth-variants';

/** The app of main.ts under a variant of the config (argv[2], a key of SYNTH_VARIANTS), without the bootstrap. */
const variant = process.argv[2] as SynthVariant;
if (!(variant in SYNTH_VARIANTS)) throw new Error(`unknown synth variant "${variant}" (have: ${Object.keys(SYNTH_VARIANTS).join(', ')})`);
const app = new App();
for (const config of variantEnvironments(variant)) environmentStacks(app, config);
app.synth();
