import Router from '@koa/router';
import type Koa from 'koa';
import * as z from '../../core/zod';
import { notFound } from '../../core/errors';
import { createServiceApp, ServiceState } from '../shared/http';
import type { Theme } from '../../core/models';
import type { ServiceRuntime } from '../shared/service-runtime';
import { placeholdersOf, slugSchema, ThemeView } from '../../core/domain/themes';
import { parseQuery, parseWith } from '../shared/validation';
import { requestSchema, ThemeListQuery, ThemeListResponse, ThemeResponse } from '../../core/internal-api';

/** Internal: the theme catalogue (contracts in core/internal-api.ts). */
const ListQuery = requestSchema<ThemeListQuery>()(z.strictObject({ active: z._default(z.enum(['true', 'false', 'all']), 'true') }));
const Uuid = z.uuid();
const ThemeRef = z.union([Uuid, slugSchema], { error: 'must be a theme id or slug' });

const themeView = (t: Theme): ThemeView => ({
  id: t.id,
  slug: t.slug,
  title: t.title,
  outputFormat: t.output_format,
  priceCents: t.price_cents,
  currency: 'eur',
  fields: placeholdersOf(t.prompt_template),
  active: t.active,
});

export function createApp(runtime: ServiceRuntime<'db'>): Koa<ServiceState> {
  const router = new Router<ServiceState>();

  router.get('/themes', async (ctx) => {
    const { active } = parseQuery(ListQuery, ctx);
    const query = runtime.db('themes').orderBy('slug');
    if (active !== 'all') query.where('active', active === 'true');
    ctx.body = { themes: ((await query) as Theme[]).map(themeView) } satisfies ThemeListResponse;
  });

  router.get('/themes/:ref', async (ctx) => {
    const ref = parseWith(ThemeRef, ctx.params.ref, 'path.ref');
    const theme: Theme | undefined = await runtime.db('themes')
      .where(Uuid.safeParse(ref).success ? { id: ref } : { slug: ref })
      .first();
    if (!theme) throw notFound(`theme ${ref} not found`);
    ctx.body = { theme: { ...themeView(theme), promptTemplate: theme.prompt_template } } satisfies ThemeResponse;
  });

  return createServiceApp('theme', runtime.logger, router);
}
