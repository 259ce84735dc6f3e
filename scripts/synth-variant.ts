import { App } from 'cdktf';
import { runCli, UsageError } from '../core/cli';
import { createLogger, stderrSink } from '../core/logger';
import { environmentStacks } from '../stacks/app';
import { CONFIG_VARIANTS, ConfigVariant, variantEnvironments } from '../stacks/variants';

/**
 * The app of main.ts under a variant of the config (stacks/variants.ts), without the bootstrap,
 * into CDKTF_OUTDIR: `npx tsx scripts/synth-variant.ts aurora`.
 */
runCli(
  () => {
    const variant = process.argv[2] as ConfigVariant;
    if (!(variant in CONFIG_VARIANTS)) throw new UsageError('variant', `one of ${Object.keys(CONFIG_VARIANTS).join(', ')}, got "${variant ?? ''}"`);
    const app = new App();
    for (const config of variantEnvironments(variant)) environmentStacks(app, config);
    app.synth();
    return 0;
  },
  { log: createLogger({ component: 'synth-variant' }, 'info', stderrSink), usage: 'usage: npx tsx scripts/synth-variant.ts <variant>' },
);
