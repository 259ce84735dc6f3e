import { runCli } from '../../core/cli';
import { createLogger, stderrSink } from '../../core/logger';
import { PdfRenderer } from '../../containers/doc-generation/render/browser';
import { readWorkerConfig } from '../../containers/shared/worker-config';
import { renderDocument, OutputFormat } from '../../containers/doc-generation/render/document';
import { treeCpuSeconds } from './memory';
import { twoPageReport } from './report';

/**
 * One bench scenario in this process (run.ts starts it under `taskset -c 0`): render `count`
 * documents the way the worker does, `concurrency` at a time, after a warm-up, and print one
 * JSON line with the throughput: per minute of wall time, and per minute of the CPU time its
 * process tree used (node, Chromium, pandoc), which other load on the machine does not change.
 * A reused browser is recycled as the worker's is, after BROWSER_RECYCLE_AFTER documents (run.ts
 * sets it so that the run crosses recycles); the line also gives the browsers launched and the
 * documents whose render failed (`lost`), which a recycle must never cause.
 */
const [format, browserMode, countArg, concurrencyArg] = process.argv.slice(2);
const count = Number(countArg);
const concurrency = Number(concurrencyArg);

async function main(): Promise<void> {
  const worker = readWorkerConfig();
  const pdf = new PdfRenderer({
    executablePath: worker.chromiumPath,
    maxConcurrentPages: concurrency,
    recycleAfter: browserMode === 'per-document' ? 1 : worker.browserRecycleAfter,
    logger: createLogger({}, 'error', () => undefined),
  });
  const markdown = twoPageReport();
  const one = (i: number) =>
    renderDocument({ format: format as OutputFormat, themeSlug: 'business-plan', themeTitle: 'Business plan', orderId: `bench-${i}`, markdown }, pdf);
  const sample = await one(-1);
  await Promise.all(Array.from({ length: concurrency }, (_, i) => one(-2 - i)));
  let next = 0;
  let lost = 0;
  const cpuBefore = treeCpuSeconds(process.pid);
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = ++next;
        await one(i).catch((err: unknown) => {
          lost += 1;
          process.stderr.write(`render ${i} failed: ${String(err)}\n`);
        });
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  // Read before the browser closes; a browser per document is reaped by then, its time counted in ours.
  const cpuSeconds = treeCpuSeconds(process.pid) - cpuBefore;
  await pdf.close();
  process.stdout.write(
    JSON.stringify({ format, browserMode, count, concurrency, launches: pdf.launches, lost, seconds, perMinute: (count / seconds) * 60, cpuSeconds, perCpuMinute: (count / cpuSeconds) * 60, bytes: sample.body.length, sampleBase64: format === 'pdf' ? sample.body.toString('base64') : undefined }) + '\n',
  );
}

runCli(main, { log: createLogger({ component: 'bench-workers-scenario' }, 'info', stderrSink), usage: 'usage: tsx bench/workers/scenario.ts <pdf|docx> <reused|per-document> <count> <concurrency>   one scenario of npm run bench:workers, which starts it' });
