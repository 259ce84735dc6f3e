import { admin } from '../support/postgres';
import { raiseMaintenanceWorkMem } from '../../migrations/data-move/schema';

/** The index builds raise maintenance_work_mem to at least --maintenance-work-mem, never lower a larger server setting, and only inside their transaction. */
const inTransaction = (server: string, requested: string) =>
  admin(async (c) => {
    await c.query(`SET maintenance_work_mem = '${server}'`);
    await c.query('BEGIN');
    await raiseMaintenanceWorkMem(c, requested);
    const during = (await c.query<{ maintenance_work_mem: string }>('SHOW maintenance_work_mem')).rows[0].maintenance_work_mem;
    await c.query('COMMIT');
    const after = (await c.query<{ maintenance_work_mem: string }>('SHOW maintenance_work_mem')).rows[0].maintenance_work_mem;
    return { during, after };
  });

test('a smaller server setting is raised to the one asked for, for the transaction only', async () => {
  expect(await inTransaction('64MB', '128MB')).toEqual({ during: '128MB', after: '64MB' });
});

test('a larger server setting (an RDS parameter group on a big instance) is kept', async () => {
  expect(await inTransaction('1GB', '128MB')).toEqual({ during: '1GB', after: '1GB' });
});

test('the value is a parameter, not SQL: a quote in it is refused by the server, not run', async () => {
  await expect(inTransaction('64MB', "1MB'; DROP TABLE x; --")).rejects.toThrow(/invalid size/);
});
