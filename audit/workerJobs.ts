import { parentPort, type Transferable } from 'node:worker_threads';

/** The messages of a `WorkerPool` (./WorkerPool.ts) and its worker side. */

/** Main thread -> worker. */
export type PoolMessage<Job, Broadcast> =
  | { kind: 'job'; id: number; job: Job }
  | { kind: 'broadcast'; message: Broadcast };

/** Worker -> main thread. */
export type PoolReply<Result> = { id: number; result: Result } | { id: number; error: string };

/** What a worker module hands {@link serveWorkerJobs}. */
export interface WorkerHandlers<Job, Result, Broadcast> {
  /** Runs one job; `transfer` lists buffers of the result to move rather than copy. */
  job(job: Job): { result: Result; transfer?: Transferable[] };
  broadcast?(message: Broadcast): void;
}

/** The worker side of a {@link WorkerPool}: call once at the top of the worker module. */
export function serveWorkerJobs<Job, Result, Broadcast>(
  handlers: WorkerHandlers<Job, Result, Broadcast>,
): void {
  const port = parentPort;
  if (port === null) throw new Error('a pool worker runs on a worker thread');
  port.on('message', (m: PoolMessage<Job, Broadcast>) => {
    if (m.kind === 'broadcast') {
      handlers.broadcast?.(m.message);
      return;
    }
    let reply: PoolReply<Result>;
    let transfer: Transferable[] = [];
    try {
      const done = handlers.job(m.job);
      reply = { id: m.id, result: done.result };
      transfer = done.transfer ?? [];
    } catch (e) {
      reply = { id: m.id, error: e instanceof Error ? e.message : String(e) };
    }
    port.postMessage(reply, transfer);
  });
}
