import { createInternalClient } from '../../core/internal-client';
import { lambdaHandler } from '../shared/lambda';
import { createStorage } from '../../core/storage';
import { createApp } from './app';

export const handler = lambdaHandler('gateway-b2b', createApp, {
  internal: (config) => createInternalClient(config),
  storage: (config) => createStorage(config),
});
