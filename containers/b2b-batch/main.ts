import { runWorkerProcess } from '../shared/process';
import { startWorker } from './worker';

runWorkerProcess('b2b-batch', () => startWorker());
