import { LocalEmulator, startLocalEmulator } from '../../scripts/local/emulator';
import { runScript } from '../support/local-dev';

/**
 * `npm run local:jobs` asks the emulator where `npm run dev` put it: EMULATOR_PORT moves both
 * (the second npm run dev's message says to set it when 4566 is taken). It read :4566 whatever
 * EMULATOR_PORT said, so it showed another run's queues or none.
 */
let emulator: LocalEmulator;
beforeAll(async () => {
  emulator = await startLocalEmulator({ queues: [{ name: 'docplatform-local-jobs-probe', maxReceiveCount: 1, visibilityTimeoutSeconds: 5 }] });
});
afterAll(() => emulator.stop());

test('EMULATOR_PORT: local:jobs lists the queues of the emulator on that port', async () => {
  const result = await runScript('scripts/local/jobs.ts', [], { EMULATOR_PORT: String(emulator.port) });
  expect(result.code).toBe(0);
  expect(result.output).toContain('docplatform-local-jobs-probe: 0 waiting, 0 in flight');
});
