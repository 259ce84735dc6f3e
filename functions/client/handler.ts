import { createDb } from '../../core/db';
import { lambdaHandler } from '../shared/lambda';
import { createApp } from './app';

export const handler = lambdaHandler('client', createApp, { db: createDb });
