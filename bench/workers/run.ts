import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';

/**
 * `npm run bench:workers`: documents per minute for one doc-generation worker pinned to one
 * core (`taskset -c 0`, inherited by Chromium), for PDF with one reused browser, PDF with a
 * browser launched per document, and DOCX; with the peak RSS of the whole process tree
 * (node + Chromium's processes + pandoc), sampled every 50 ms from /proc (PSS and RSS sums).
 * It measures the render stage — Markdown → themed HTML → PDF, Markdown → DOCX — which is
 * what holds the worker's core; content generation happens in core-llm, not on this core.
 * Targets: ≥ 60 two-page PDFs per minute on one core; peak memory < 1.5 GB.
 */
const REPO = join(__dirname, '..', '..');

interface Scenario {
  name: string;
  format: 'pdf' | 'docx';
  browser: 'reused' | 'per-document';
  count: number;
  concurrency: number;
}

const SCENARIOS: Scenario[] = [
  { name: 'PDF, one reused browser, 1 at a time', format: 'pdf', browser: 'reused', count: 60, concurrency: 1 },
  { name: 'PDF, one reused browser, 2 at a time (worker default)', format: 'pdf', browser: 'reused', count: 60, concurrency: 2 },
  { name: 'PDF, a browser launched per document', format: 'pdf', browser: 'per-document', count: 15, concurrency: 1 },
  { name: 'DOCX (pandoc), 2 at a time', format: 'docx', browser: 'reused', count: 60, concurrency: 2 },
];

/**
 * Memory of the process tree, two ways: the sum of RSS counts the pages Chromium's processes
 * share (its binary, fonts) once per process, so it overstates; the sum of PSS splits shared
 * pages between their users and is close to what the task's cgroup is charged.
 */
function treeMemoryKb(root: number): { rss: number; pss: number } {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // The process ended between readdir and read.
    }
  }
  const total = { rss: 0, pss: 0 };
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    try {
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      total.rss += Number(/^Rss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
      total.pss += Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
    } catch {
      // Gone already.
    }
    for (const [child, parent] of parents) if (parent === pid) stack.push(child);
  }
  return total;
}

function runScenario(s: Scenario): Promise<{ perMinute: number; seconds: number; peakRssMb: number; peakPssMb: number; pages?: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn('taskset', ['-c', '0', process.execPath, '--import', 'tsx', join(__dirname, 'scenario.ts'), s.format, s.browser, String(s.count), String(s.concurrency)], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    const peak = { rss: 0, pss: 0 };
    child.stdout.on('data', (c) => (out += c));
    const sampler = setInterval(() => {
      const now = treeMemoryKb(child.pid!);
      peak.rss = Math.max(peak.rss, now.rss);
      peak.pss = Math.max(peak.pss, now.pss);
    }, 50);
    child.on('exit', (code) => {
      clearInterval(sampler);
      if (code !== 0) return reject(new Error(`scenario "${s.name}" exited with ${code}`));
      const r = JSON.parse(out.trim().split('\n').pop()!) as { perMinute: number; seconds: number; sampleBase64?: string };
      let pages: number | undefined;
      if (r.sampleBase64) {
        const dir = mkdtempSync(join(tmpdir(), 'bench-'));
        writeFileSync(join(dir, 'a.pdf'), Buffer.from(r.sampleBase64, 'base64'));
        pages = Number(/Pages:\s+(\d+)/.exec(execFileSync('pdfinfo', [join(dir, 'a.pdf')], { encoding: 'utf8' }))?.[1]);
        rmSync(dir, { recursive: true, force: true });
      }
      resolve({ perMinute: r.perMinute, seconds: r.seconds, peakRssMb: peak.rss / 1024, peakPssMb: peak.pss / 1024, pages });
    });
  });
}

async function main(): Promise<void> {
  const rows: string[] = [];
  const results: Record<string, number> = {};
  for (const s of SCENARIOS) {
    const r = await runScenario(s);
    results[s.name] = r.perMinute;
    rows.push(
      `${s.name.padEnd(56)} ${r.perMinute.toFixed(1).padStart(7)} docs/min   peak PSS ${r.peakPssMb.toFixed(0).padStart(5)} MB (RSS sum ${r.peakRssMb.toFixed(0)} MB)${r.pages ? `   ${r.pages}-page PDF` : ''}`,
    );
    process.stdout.write(rows[rows.length - 1] + '\n');
  }
  const reused = results[SCENARIOS[0].name];
  const perDoc = results[SCENARIOS[2].name];
  process.stdout.write(`\nreused browser vs browser per document: ${(reused / perDoc).toFixed(1)}x\n`);
  process.stdout.write(`load average at the end (the machine may be shared): ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
