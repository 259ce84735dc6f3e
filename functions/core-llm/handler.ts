import { lambdaHandler } from '../shared/lambda';
import { createRedis } from '../../core/redis';
import { createApp } from './app';

export const handler = lambdaHandler('core-llm', createApp, { redis: createRedis });
