import { ConfigError } from '../../core/errors';
import { readWorkerConfig } from './worker-config';

describe('worker knobs', () => {
  test('SQS_WAIT_TIME_SECONDS is a long poll of 1 to 20 s: 0 (a short poll every round) is refused, naming the variable', () => {
    expect(readWorkerConfig({}).waitTimeSeconds).toBe(20);
    expect(readWorkerConfig({ SQS_WAIT_TIME_SECONDS: '1' }).waitTimeSeconds).toBe(1);
    // An idle task would ask SQS without waiting in a loop: about 290 receives a second against the local emulator.
    expect(() => readWorkerConfig({ SQS_WAIT_TIME_SECONDS: '0' })).toThrow(ConfigError);
    expect(() => readWorkerConfig({ SQS_WAIT_TIME_SECONDS: '0' })).toThrow(/SQS_WAIT_TIME_SECONDS/);
    expect(() => readWorkerConfig({ SQS_WAIT_TIME_SECONDS: '21' })).toThrow(/SQS_WAIT_TIME_SECONDS/);
  });
});
