import { config, locales } from 'zod/mini';

/**
 * The services validate with zod's tree-shakable API (`zod/mini`, imported as
 * `import * as z from '…/core/zod'` so a bundle keeps only what it calls): the classic API
 * costs every Lambda bundle ~170 KB and ~15 ms of cold start, for the same checks and messages.
 * zod/mini ships without messages; these are the English ones the classic API gives.
 */
config(locales.en());

export * from 'zod/mini';
