import { createLogger, stderrSink, stdoutSink } from './logger';

/** The one log line format of every service, worker and CLI: `{time, level, msg, ...base, ...fields}`. */
const capture = () => {
  const lines: string[] = [];
  return { lines, sink: (line: string) => void lines.push(line), parsed: () => lines.map((l) => JSON.parse(l)) };
};

test('one JSON line: time, level, msg first, then the base fields, then the call fields', () => {
  const out = capture();
  createLogger({ service: 'order', env: 'dev' }, 'info', out.sink).info('doc job sent', { orderId: 'o-1', attempt: 2 });
  expect(out.lines).toHaveLength(1);
  expect(out.lines[0]).not.toContain('\n');
  const line = JSON.parse(out.lines[0]);
  expect(Object.keys(line)).toEqual(['time', 'level', 'msg', 'service', 'env', 'orderId', 'attempt']);
  expect(line).toEqual({ time: line.time, level: 'info', msg: 'doc job sent', service: 'order', env: 'dev', orderId: 'o-1', attempt: 2 });
  expect(new Date(line.time).toISOString()).toBe(line.time);
});

test('a call field overrides a base field of the same name; an Error becomes name, message and stack', () => {
  const out = capture();
  createLogger({ component: 'cost', phase: 'base' }, 'info', out.sink).error('failed', { phase: 'call', err: new TypeError('boom') });
  const [line] = out.parsed();
  expect(line).toMatchObject({ level: 'error', msg: 'failed', component: 'cost', phase: 'call', err: { name: 'TypeError', message: 'boom' } });
  expect(line.err.stack).toContain('TypeError: boom');
});

test('lines below the level are dropped; a child keeps the level and the sink and adds its fields', () => {
  const out = capture();
  const log = createLogger({ service: 'w' }, 'warn', out.sink);
  log.debug('d');
  log.info('i');
  log.warn('w');
  log.child({ requestId: 'r-1' }).error('e');
  log.child({ requestId: 'r-1' }).info('dropped');
  expect(out.parsed().map(({ time: _time, ...rest }) => rest)).toEqual([
    { level: 'warn', msg: 'w', service: 'w' },
    { level: 'error', msg: 'e', service: 'w', requestId: 'r-1' },
  ]);
});

test('the ready sinks write one line each to stdout and to stderr', () => {
  const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    createLogger({}, 'info', stdoutSink).info('to stdout');
    createLogger({}, 'info', stderrSink).warn('to stderr', { n: 1 });
    expect(stdout.mock.calls.map(([chunk]) => JSON.parse(String(chunk)))).toEqual([expect.objectContaining({ level: 'info', msg: 'to stdout' })]);
    expect(String(stdout.mock.calls[0][0]).endsWith('}\n')).toBe(true);
    expect(stderr.mock.calls.map(([chunk]) => JSON.parse(String(chunk)))).toEqual([expect.objectContaining({ level: 'warn', msg: 'to stderr', n: 1 })]);
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
});
