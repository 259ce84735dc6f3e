import { createDb } from '../../core/db';
import { lambdaHandler } from '../shared/lambda';
import { createJobQueue } from '../../core/queue';
import { createApp } from './app';

export const handler = lambdaHandler('order', createApp, { db: createDb, queue: (config) => createJobQueue(config) });
