import Router from '@koa/router';
import type Koa from 'koa';
import { z } from 'zod';
import { notFound } from '../shared/errors';
import { createServiceApp, ServiceState } from '../shared/http';
import { Theme } from '../shared/models';
import type { Runtime } from '../shared/runtime';
import { placeholdersOf, slugSchema, ThemeView } from '../shared/themes';
import { parseQuery, parseWith } from '../shared/validation';

/** Internal: the theme catalogue. */
const ListQuery = z.object({ active: z.enum(['true', 'false', 'all']).default('true') }).strict();
const ThemeRef = z.union([z.string().uuid(), slugSchema], { error: 'must be a theme id or slug' });

export const themeView = (t: Theme): ThemeView => ({
  id: t.id,
  slug: t.slug,
  title: t.title,
  outputFormat: t.output_format,
  priceCents: t.price_cents,
  currency: 'eur',
  fields: placeholdersOf(t.prompt_template),
  active: t.active,
});

export function createApp(runtime: Runtime): Koa<ServiceState> {
  const router = new Router<ServiceState>();

  router.get('/themes', async (ctx) => {
    const { active } = parseQuery(ListQuery, ctx);
    const query = Theme.query(runtime.db).orderBy('slug');
    if (active !== 'all') query.where('active', active === 'true');
    ctx.body = { themes: (await query).map(themeView) };
  });

  router.get('/themes/:ref', async (ctx) => {
    const ref = parseWith(ThemeRef, ctx.params.ref, 'path.ref');
    const theme = await Theme.query(runtime.db).findOne(z.string().uuid().safeParse(ref).success ? { id: ref } : { slug: ref });
    if (!theme) throw notFound(`theme ${ref} not found`);
    ctx.body = { theme: { ...themeView(theme), promptTemplate: theme.prompt_template } };
  });

  return createServiceApp('theme', runtime.logger, router);
}
