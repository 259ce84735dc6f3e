import { createLogger } from '../../core/logger';
import { orderDeadlines } from '../../containers/doc-generation/deadlines';
import { sweepStuckOrders } from '../../containers/doc-generation/sweeper';
import { rejectedRowsKey } from '../../core/domain/batches';
import { startWorkerHarness, WorkerHarness } from '../support/workers-harness';

/**
 * The sweeper's repair of batches whose completion was missed, on the real PostgreSQL and S3
 * emulator: one batch that cannot be completed (its rejected-rows report is not JSON) must not keep
 * the others from completing, nor fail the sweep; one whose report is gone completes, its rejected
 * lines without their reasons (batch-missing-report.test.ts).
 */
let h: WorkerHarness;
const lines: Array<Record<string, unknown>> = [];
const log = createLogger({ service: 'test', env: 'test' }, 'info', (line) => void lines.push(JSON.parse(line) as Record<string, unknown>));

beforeAll(async () => {
  h = await startWorkerHarness('sweep_batches');
}, 60_000);
afterAll(() => h?.stop());

test('a settled batch whose completion fails is skipped, with a warning naming it: the batches after it still complete and the sweep ends', async () => {
  const deadlines = orderDeadlines({ visibilityTimeoutSeconds: 3, maxReceiveCount: 3 });
  const clientId = await h.createClient('b2b');
  const theme = await h.themeBySlug('product-sheet');
  // All rows settled (one rejected row each), completion missed; the broken one is the older, so the sweep meets it first.
  const settled = async (ageSeconds: number, report: string | undefined) => {
    const [row] = await h
      .db('batches')
      .insert({ client_id: clientId, theme_id: theme.id, status: 'processing', total_rows: 1, failed: 1, source_key: 'unused', updated_at: h.db.raw(`now() - ? * interval '1 second'`, [ageSeconds]) })
      .returning('id');
    if (report !== undefined) await h.storage.put('assets', rejectedRowsKey(clientId, row.id), report, 'application/json');
    return row.id as string;
  };
  const broken = await settled(700, '[{"line": 1, "reason": ');
  const good = await settled(600, JSON.stringify([{ line: 1, reason: 'product: required non-empty string' }]));
  const reportGone = await settled(500, undefined);

  const report = await sweepStuckOrders({ db: h.db, storage: h.storage, batchBucket: 'assets', logger: log, jobs: { sendDocJob: async () => undefined }, deadlines, backlog: async () => ({ docJobs: 0, batchDocJobs: 0 }) });

  expect(report.batchesCompleted).toBe(2);
  const status = async (id: string) => (await h.db('batches').where({ id }).first()).status;
  expect({ broken: await status(broken), good: await status(good), reportGone: await status(reportGone) }).toEqual({ broken: 'processing', good: 'completed', reportGone: 'completed' });
  expect(lines.find((l) => l.msg === 'batch completion failed; tried again at the next sweep')).toMatchObject({ level: 'warn', batchId: broken });
});
