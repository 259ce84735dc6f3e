import { readFileSync } from 'node:fs';

/**
 * Memory of a process tree, two ways: the sum of RSS counts the pages Chromium's processes
 * share (its binary, fonts) once per process, so it overstates; the sum of PSS splits shared
 * pages between their users and is close to what the task's cgroup is charged.
 */
export interface TreeMemory {
  rssKb: number;
  pssKb: number;
  processes: number;
}

/** The tree under `root` through each thread's `children` file: no scan of every process on the machine. */
export function tree(root: number): number[] {
  const pids = [root];
  for (let i = 0; i < pids.length; i++) {
    let tasks: string[];
    try {
      tasks = readFileSync(`/proc/${pids[i]}/task/${pids[i]}/children`, 'utf8').split(' ').filter(Boolean);
    } catch {
      continue; // Gone since its parent listed it.
    }
    pids.push(...tasks.map(Number));
  }
  return pids;
}

export function treeMemory(root: number): TreeMemory {
  const total = { rssKb: 0, pssKb: 0, processes: 0 };
  for (const pid of tree(root)) {
    try {
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      total.rssKb += Number(/^Rss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
      total.pssKb += Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
      total.processes += 1;
    } catch {
      // Gone already.
    }
  }
  return total;
}

/**
 * The peak of the tree's memory, sampled every `everyMs`. Reading smaps_rollup takes each
 * process's memory-map lock, which the renders being measured then wait on: sampling is kept
 * sparse (the peak of a steady run of renders lasts far longer than 200 ms).
 */
export function samplePeak(root: number, everyMs = 200): { stop(): { peakRssMb: number; peakPssMb: number; maxProcesses: number } } {
  const peak = { rssKb: 0, pssKb: 0, processes: 0 };
  const take = () => {
    const now = treeMemory(root);
    peak.rssKb = Math.max(peak.rssKb, now.rssKb);
    peak.pssKb = Math.max(peak.pssKb, now.pssKb);
    peak.processes = Math.max(peak.processes, now.processes);
  };
  const timer = setInterval(take, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      return { peakRssMb: peak.rssKb / 1024, peakPssMb: peak.pssKb / 1024, maxProcesses: peak.processes };
    },
  };
}

const TICKS_PER_SECOND = 100;

/**
 * CPU seconds the tree has used: each live process's own user + system time and that of the
 * children it has reaped (fields 14–17 of /proc/<pid>/stat, in clock ticks). The difference
 * over a run is what it cost, whatever else the machine ran: the rate a core of its own would give.
 */
export function treeCpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of tree(root)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // After the command: state is field 3, utime/stime/cutime/cstime fields 14–17.
      ticks += fields.slice(11, 15).reduce((sum, f) => sum + Number(f), 0);
    } catch {
      // Gone already: its time went to the parent that reaped it.
    }
  }
  return ticks / TICKS_PER_SECOND;
}
