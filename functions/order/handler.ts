import { createDb } from '../shared/db';
import { lambdaHandler } from '../shared/lambda';
import { createJobQueue } from '../shared/queue';
import { createApp } from './app';

export const handler = lambdaHandler('order', createApp, { db: createDb, queue: (config) => createJobQueue(config) });
