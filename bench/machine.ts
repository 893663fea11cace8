import { availableParallelism, loadavg } from 'node:os';

/**
 * The machine's load, printed with every figure: these benches run on shared 2-core machines, and a figure
 * measured at load 6 is not one measured at load 0.5.
 */
export interface MachineLoad {
  /** 1, 5 and 15 minute load averages. */
  loadAvg: [number, number, number];
  cpus: number;
}

export function machineLoad(): MachineLoad {
  const [a, b, c] = loadavg();
  return { loadAvg: [round2(a ?? 0), round2(b ?? 0), round2(c ?? 0)], cpus: availableParallelism() };
}

/** `load 1.23/0.98/0.80 on 2 cpus` */
export function formatLoad(load: MachineLoad): string {
  return `load ${load.loadAvg.map((l) => l.toFixed(2)).join('/')} on ${load.cpus} cpus`;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
