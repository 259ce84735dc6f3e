import { runWorkerProcess } from '../shared/process';
import { startWorker } from './worker';

runWorkerProcess('doc-generation', () => startWorker());
