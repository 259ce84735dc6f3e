import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { atLeast, LogLevel, LogSink } from '../../core/logger';

/**
 * `npm run dev`'s log file: every line of every service and worker, in the one format of
 * core/logger.ts, appended to `LOCAL_LOG_FILE` under the local state folder, while the terminal
 * shows only the lines at LOG_LEVEL or above. The file is what CloudWatch Logs is in AWS: the
 * place `npm run ops -- order <id>` reads an order's story from, also after a restart. Written
 * synchronously, so a line is on disk before the next one and a crash loses none.
 */

/** Past this size the file starts again at the next start; the previous one is kept as `<file>.1`. */
export const LOCAL_LOG_MAX_BYTES = 64 * 1024 * 1024;

export interface LocalLog {
  sink: LogSink;
  close(): void;
}

export function openLocalLog(file: string, terminal: { level: LogLevel; write: (line: string) => void }): LocalLog {
  mkdirSync(dirname(file), { recursive: true });
  if ((statSync(file, { throwIfNoEntry: false })?.size ?? 0) > LOCAL_LOG_MAX_BYTES) renameSync(file, `${file}.1`);
  let fd: number | undefined = openSync(file, 'a');
  return {
    sink: (line) => {
      if (fd !== undefined) writeSync(fd, `${line}\n`);
      const level = (JSON.parse(line) as { level: LogLevel }).level;
      if (atLeast(level, terminal.level)) terminal.write(line);
    },
    close: () => {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}

/** The lines of the log file, oldest first (the previous file's, then the current one's); a line that is not JSON is skipped. */
export function readLocalLog(file: string): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const path of [`${file}.1`, file]) {
    if (!existsSync(path)) continue;
    for (const text of readFileSync(path, 'utf8').split('\n')) {
      if (!text.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(text) as Record<string, unknown>);
      } catch {
        // A line cut short by a crash mid-write: the others still tell the story.
      }
    }
  }
  return lines;
}
