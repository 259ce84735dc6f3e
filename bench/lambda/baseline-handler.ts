import Koa from 'koa';
import Router from '@koa/router';
import serverless from 'serverless-http';

/**
 * The cold-start baseline of `npm run bench:lambda`: the least a Koa service on Lambda is — Koa,
 * @koa/router and serverless-http, one route, no config, logger or clients — bundled with the
 * functions' esbuild base. It answers `/health` with JSON serialised by hand, as the services'
 * shell does (functions/shared/http.ts), so the ratio to it is our own start-up, not Koa's
 * first read of `Response` that both avoid.
 */
const router = new Router();
router.get('/health', (ctx) => {
  ctx.type = 'application/json';
  ctx.body = JSON.stringify({ status: 'ok', service: 'baseline' });
});

const app = new Koa();
app.use(router.routes()).use(router.allowedMethods());

export const handler = serverless(app);
