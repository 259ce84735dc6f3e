import { createInternalClient } from '../shared/internal-client';
import { lambdaHandler } from '../shared/lambda';
import { createStorage } from '../shared/storage';
import { createApp } from './app';

export const handler = lambdaHandler('gateway-b2b', createApp, {
  internal: (config) => createInternalClient(config),
  storage: (config) => createStorage(config),
});
