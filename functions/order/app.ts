import type Koa from 'koa';
import { createServiceApp, ServiceState } from '../shared/http';
import type { Runtime } from '../shared/runtime';

export function createApp(runtime: Runtime): Koa<ServiceState> {
  return createServiceApp('order', runtime.logger);
}
