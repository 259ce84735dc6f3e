import { environments, EnvironmentConfig } from './config';

/**
 * The other side of each config switch: a variant maps every environment's config to one with
 * the switch turned (the same environments, stack names and layers). The infrastructure tests
 * hold the variant's stacks to the committed ones' invariants, and `npm run cost` prices it side
 * by side (`npx tsx scripts/synth-variant.ts <variant>` synthesises one).
 */
export const CONFIG_VARIANTS = {
  /** `database.engine: 'aurora-serverless-v2'` in every environment (dev at 0 ACU with auto-pause). */
  aurora: (config: EnvironmentConfig): EnvironmentConfig => ({ ...config, database: { ...config.database, engine: 'aurora-serverless-v2' } }),
  /** `migration.storageSource: true` in every environment: the source-key secret and the storage-move task. */
  storageSource: (config: EnvironmentConfig): EnvironmentConfig => ({ ...config, migration: { ...config.migration, storageSource: true } }),
} satisfies Record<string, (config: EnvironmentConfig) => EnvironmentConfig>;

export type ConfigVariant = keyof typeof CONFIG_VARIANTS;

/** Every environment's config under a variant. */
export const variantEnvironments = (variant: ConfigVariant): EnvironmentConfig[] => Object.values(environments).map(CONFIG_VARIANTS[variant]);
