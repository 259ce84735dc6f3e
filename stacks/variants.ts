import { environments, EnvironmentConfig } from '../../stacks/config';

/**
 * The configurations the infrastructure tests synthesise besides the committed one: each maps
 * every environment's config to a variant (the same environments, stack names and layers), so
 * that the invariants of a switch's other side are held as the committed side's are.
 */
export const SYNTH_VARIANTS = {
  /** `database.engine: 'aurora-serverless-v2'` in every environment (dev at 0 ACU with auto-pause). */
  aurora: (config: EnvironmentConfig): EnvironmentConfig => ({ ...config, database: { ...config.database, engine: 'aurora-serverless-v2' } }),
} satisfies Record<string, (config: EnvironmentConfig) => EnvironmentConfig>;

export type SynthVariant = keyof typeof SYNTH_VARIANTS;

/** Every environment's config under a variant. */
export const variantEnvironments = (variant: SynthVariant): EnvironmentConfig[] => Object.values(environments).map(SYNTH_VARIANTS[variant]);
