import { App } from 'cdktf';
import { environmentStacks } from '../stacks/app';
import { CONFIG_VARIANTS, ConfigVariant, variantEnvironments } from '../stacks/variants';

/**
 * The app of main.ts under a variant of the config (stacks/variants.ts), without the bootstrap,
 * into CDKTF_OUTDIR: `npx tsx scripts/synth-variant.ts aurora`.
 */
const variant = process.argv[2] as ConfigVariant;
if (!(variant in CONFIG_VARIANTS)) {
  process.stderr.write(`variant: one of ${Object.keys(CONFIG_VARIANTS).join(', ')}, got "${variant ?? ''}"\n`);
  process.exit(2);
}
const app = new App();
for (const config of variantEnvironments(variant)) environmentStacks(app, config);
app.synth();
