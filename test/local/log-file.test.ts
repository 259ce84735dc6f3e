import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../core/logger';
import { LOCAL_LOG_MAX_BYTES, openLocalLog, readLocalLog } from '../../scripts/local/log-file';

/**
 * `npm run dev`'s log file (scripts/local/log-file.ts): every line in the file, only LOG_LEVEL and
 * up on the terminal; a file past its size starts again at the next open, the previous one kept
 * and still read; a line cut short by a crash does not hide the others.
 */
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'local-log-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test('every line goes to the file in the logger’s format; the terminal sees its level and up', () => {
  const file = join(dir, 'logs', 'platform.jsonl');
  const terminal: string[] = [];
  const log = openLocalLog(file, { level: 'warn', write: (line) => terminal.push(line) });
  const logger = createLogger({ service: 'order', env: 'local' }, 'info', log.sink);
  logger.info('order received', { step: 'received', orderId: 'o-1' });
  logger.warn('payment does not match the order; not paid', { orderId: 'o-1' });
  log.close();
  const lines = readLocalLog(file);
  expect(lines.map((l) => [l.level, l.msg, l.service, l.orderId])).toEqual([
    ['info', 'order received', 'order', 'o-1'],
    ['warn', 'payment does not match the order; not paid', 'order', 'o-1'],
  ]);
  expect(terminal.map((l) => JSON.parse(l).msg)).toEqual(['payment does not match the order; not paid']);
  // Appended: a second run adds to the first.
  const again = openLocalLog(file, { level: 'error', write: () => undefined });
  again.sink(JSON.stringify({ time: new Date().toISOString(), level: 'info', msg: 'second run' }));
  again.close();
  expect(readLocalLog(file).map((l) => l.msg)).toEqual(['order received', 'payment does not match the order; not paid', 'second run']);
});

test('past its size the file starts again, the previous kept as .1 and read first; a torn line is skipped', () => {
  const file = join(dir, 'platform.jsonl');
  const old = JSON.stringify({ time: '2026-01-01T00:00:00.000Z', level: 'info', msg: 'old' });
  writeFileSync(file, `${old}\n{"time":"2026-01-01T00:00:01.000Z","lev\n${' '.repeat(LOCAL_LOG_MAX_BYTES)}\n`);
  const log = openLocalLog(file, { level: 'warn', write: () => undefined });
  log.sink(JSON.stringify({ time: '2026-01-02T00:00:00.000Z', level: 'info', msg: 'new' }));
  log.close();
  expect(statSync(`${file}.1`).size).toBeGreaterThan(LOCAL_LOG_MAX_BYTES);
  expect(readFileSync(file, 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
  expect(readLocalLog(file).map((l) => l.msg)).toEqual(['old', 'new']);
});
