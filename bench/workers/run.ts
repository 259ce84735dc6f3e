import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../core/cli';
import { createLogger, stderrSink } from '../../core/logger';
import { countArgument } from '../count-argument';
import { formatLoad, loadAverage, median, printFigures } from '../figures';
import { endToEnd } from './end-to-end';
import { samplePeak } from './memory';

/**
 * `npm run bench:workers [-- rounds]` (or `-- --rounds N`): documents per minute for one
 * doc-generation worker pinned to one core (`taskset -c 0`, inherited by Chromium), for PDF with
 * one reused browser (1 and 2 at a time), PDF with a browser launched per document, and DOCX;
 * with the peak memory of the whole process tree (node + Chromium's processes + pandoc). The
 * scenarios run interleaved, `rounds` times (3 by default), in an order rotated from round to
 * round: medians, and the reused/per-document ratio of each round. A reused browser is recycled
 * after a third of the documents a scenario renders (BROWSER_RECYCLE_AFTER, the worker's knob;
 * 100 in production), so that each run pays for two recycles and more and shows a job lost at one;
 * the browsers launched are counted, and every document must render ("jobs lost at recycle: 0").
 * These measure the render stage — Markdown → themed HTML → PDF, Markdown → DOCX — which is
 * what holds the worker's core; each rate also per minute of the CPU time the tree used, the
 * figure other load on a shared machine leaves alone. Then the worker's own rate through its
 * queue at its default concurrency (end-to-end.ts). Targets: ≥ 200 two-page PDFs per minute on one core, ≥ 3× a
 * browser per document, peak PSS < 600 MB.
 */
const REPO = join(__dirname, '..', '..');
const TARGET = { pdfPerMinute: 200, reusedOverPerDocument: 3, peakPssMb: 600 };
const END_TO_END_ORDERS = 60;

const USAGE = `usage: npm run bench:workers [-- rounds | -- --rounds N]
  rounds, --rounds N   interleaved rounds of the four scenarios, 1 to 100 (default 3)`;

const log = createLogger({ component: 'bench-workers' }, 'info', stderrSink);

interface Scenario {
  key: string;
  name: string;
  format: 'pdf' | 'docx';
  browser: 'reused' | 'per-document';
  count: number;
  concurrency: number;
}

/** The recycle threshold of a reused browser that renders `documents`: at least two recycles within them. */
const recycleAfter = (documents: number): number => Math.floor(documents / 3);

const SCENARIOS: Scenario[] = [
  { key: 'pdfReused1', name: 'PDF, one reused browser, 1 at a time', format: 'pdf', browser: 'reused', count: 60, concurrency: 1 },
  { key: 'pdfPerDocument', name: 'PDF, a browser launched per document', format: 'pdf', browser: 'per-document', count: 15, concurrency: 1 },
  { key: 'pdfReused2', name: 'PDF, one reused browser, 2 at a time (worker default)', format: 'pdf', browser: 'reused', count: 60, concurrency: 2 },
  { key: 'docx2', name: 'DOCX (pandoc), 2 at a time', format: 'docx', browser: 'reused', count: 60, concurrency: 2 },
];

interface Result {
  perMinute: number;
  perCpuMinute: number;
  peakRssMb: number;
  peakPssMb: number;
  launches: number;
  lost: number;
  pages?: number;
}

function pdfPages(base64: string): number {
  const dir = mkdtempSync(join(tmpdir(), 'bench-'));
  try {
    writeFileSync(join(dir, 'a.pdf'), Buffer.from(base64, 'base64'));
    return Number(/Pages:\s+(\d+)/.exec(execFileSync('pdfinfo', [join(dir, 'a.pdf')], { encoding: 'utf8' }))?.[1]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function runScenario(s: Scenario): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn('taskset', ['-c', '0', process.execPath, '--import', 'tsx', join(__dirname, 'scenario.ts'), s.format, s.browser, String(s.count), String(s.concurrency)], {
      cwd: REPO,
      env: { ...process.env, BROWSER_RECYCLE_AFTER: String(recycleAfter(s.count)) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    const memory = samplePeak(child.pid!);
    child.stdout.on('data', (c) => (out += c));
    child.on('exit', (code) => {
      const peak = memory.stop();
      if (code !== 0) return reject(new Error(`scenario "${s.name}" exited with ${code}`));
      const r = JSON.parse(out.trim().split('\n').pop()!) as { perMinute: number; perCpuMinute: number; launches: number; lost: number; sampleBase64?: string };
      resolve({
        perMinute: r.perMinute,
        perCpuMinute: r.perCpuMinute,
        peakRssMb: peak.peakRssMb,
        peakPssMb: peak.peakPssMb,
        launches: r.launches,
        lost: r.lost,
        pages: r.sampleBase64 ? pdfPages(r.sampleBase64) : undefined,
      });
    });
  });
}

async function main(argv: string[]): Promise<number> {
  const rounds = countArgument(argv, 'rounds', { min: 1, max: 100 }, 3);
  const loadBefore = loadAverage();
  process.stdout.write(`doc-generation render rates on one pinned core, ${rounds} interleaved rounds (load average before: ${formatLoad()}; the machine may be shared)\n`);
  const results = new Map<string, Result[]>(SCENARIOS.map((s) => [s.key, []]));
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  for (let r = 1; r <= rounds; r++) {
    for (let k = 0; k < SCENARIOS.length; k++) {
      const s = SCENARIOS[(r - 1 + k) % SCENARIOS.length];
      const result = await runScenario(s);
      results.get(s.key)!.push(result);
      process.stderr.write(
        `round ${r} ${s.name}: ${result.perMinute.toFixed(1)} docs/min (${result.perCpuMinute.toFixed(1)} per CPU-minute), peak PSS ${result.peakPssMb.toFixed(0)} MB, ${result.launches} browser launches, ${result.lost} lost (load ${formatLoad()})\n`,
      );
    }
    const [reused, perDoc] = [results.get('pdfReused1')!, results.get('pdfPerDocument')!];
    ratios.push(reused[r - 1].perMinute / perDoc[r - 1].perMinute);
    cpuRatios.push(reused[r - 1].perCpuMinute / perDoc[r - 1].perCpuMinute);
  }

  const summary = Object.fromEntries(
    SCENARIOS.map((s) => {
      const rs = results.get(s.key)!;
      return [s.key, { perMinute: median(rs.map((x) => x.perMinute)), perCpuMinute: median(rs.map((x) => x.perCpuMinute)), peakPssMb: Math.max(...rs.map((x) => x.peakPssMb)), peakRssMb: Math.max(...rs.map((x) => x.peakRssMb)), launches: rs.map((x) => x.launches), lost: rs.reduce((n, x) => n + x.lost, 0), pages: rs[0].pages }];
    }),
  );
  process.stdout.write(
    `\n${'scenario'.padEnd(56)} ${'median docs/min'.padStart(15)}  ${'per CPU-minute'.padStart(14)}  ${'peak PSS MB'.padStart(11)}  ${'(RSS sum)'.padStart(9)}  ${'recycle after'.padStart(13)}  ${'browser launches'.padStart(16)}  pages\n`,
  );
  for (const s of SCENARIOS) {
    const x = summary[s.key];
    const recycle = s.format === 'docx' ? '—' : s.browser === 'per-document' ? '1' : String(recycleAfter(s.count));
    process.stdout.write(
      `${s.name.padEnd(56)} ${x.perMinute.toFixed(1).padStart(15)}  ${x.perCpuMinute.toFixed(1).padStart(14)}  ${x.peakPssMb.toFixed(0).padStart(11)}  ${x.peakRssMb.toFixed(0).padStart(9)}  ${recycle.padStart(13)}  ${x.launches.join(', ').padStart(16)}  ${x.pages ?? ''}\n`,
    );
  }
  const ratio = median(ratios);
  const cpuRatio = median(cpuRatios);
  process.stdout.write(`reused browser vs browser per document: ${ratio.toFixed(1)}x (median of the rounds' ratios: ${ratios.map((x) => x.toFixed(1)).join(', ')}); per CPU-minute ${cpuRatio.toFixed(1)}x\n`);

  // The warm-up order is rendered too: a third of all the worker renders.
  const e2eRecycleAfter = recycleAfter(END_TO_END_ORDERS + 1);
  process.stdout.write(
    `\nthe worker through its queue: ${END_TO_END_ORDERS} PDF orders, default concurrency, browser recycled after ${e2eRecycleAfter} documents, one pinned core (load ${formatLoad()})\n`,
  );
  const e2e = await endToEnd(END_TO_END_ORDERS, e2eRecycleAfter);
  process.stdout.write(
    `receive → core-llm → render → upload → ready: ${e2e.perMinute.toFixed(1)} orders/min (${e2e.seconds.toFixed(1)} s, concurrency ${e2e.concurrency}), peak PSS ${e2e.peakPssMb.toFixed(0)} MB (RSS sum ${e2e.peakRssMb.toFixed(0)} MB), ` +
      `${e2e.launches} browser launches, ${e2e.ready} of ${e2e.orders} orders ready, ${e2e.failedAttempts} failed attempts\n`,
  );
  const lostAtRecycle = SCENARIOS.reduce((n, s) => n + summary[s.key].lost, 0) + (e2e.orders - e2e.ready);
  process.stdout.write(`jobs lost at recycle: ${lostAtRecycle}\n`);
  process.stdout.write(`load average at the end: ${formatLoad()}\n`);
  const peakPss = Math.max(summary.pdfReused1.peakPssMb, summary.pdfReused2.peakPssMb, e2e.peakPssMb);
  printFigures('workers', {
    rounds,
    loadAverageBefore: loadBefore,
    ...summary,
    reusedOverPerDocument: ratio,
    reusedOverPerDocumentByRound: ratios,
    reusedOverPerDocumentPerCpuMinute: cpuRatio,
    endToEnd: e2e,
    lostAtRecycle,
    target: TARGET,
    withinTarget: summary.pdfReused1.perMinute >= TARGET.pdfPerMinute && ratio >= TARGET.reusedOverPerDocument && peakPss < TARGET.peakPssMb,
  });
  if (lostAtRecycle > 0) {
    log.error('jobs lost at recycle', { lostAtRecycle });
    return 1;
  }
  return 0;
}

runCli(() => main(process.argv.slice(2)), { log, usage: USAGE });
