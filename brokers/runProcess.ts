import { spawn } from 'node:child_process';
import { constants } from 'node:os';

/** Options of {@link runProcess}. */
export interface RunProcessOptions {
  /** The whole environment of the child (nothing is inherited). */
  env: Record<string, string>;
  /** Wall-clock limit; the whole process group is killed with SIGKILL when it passes. */
  timeoutMs: number;
  /** Largest number of bytes kept of each of stdout and stderr; the rest is dropped. Default 1 MiB. */
  maxOutputBytes?: number;
  /** Called once when the timeout fires, after the group is killed (e.g. to stop a container). */
  onTimeout?: () => void;
}

/** What a finished process left. */
export interface ProcessResult {
  /** The exit status, or 128 + the signal number when a signal ended it, or null when neither is known. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: Buffer;
  stderr: Buffer;
  /** True when some output was dropped past `maxOutputBytes`. */
  truncated: boolean;
}

const DEFAULT_MAX_OUTPUT_BYTES = 1 << 20;

/**
 * Runs `argv` without a shell, in its own process group, with exactly `env`, stdin closed. Rejects only
 * when the process cannot be started (`ENOENT` ...); a non-zero exit or a timeout is a result.
 */
export function runProcess(argv: readonly string[], options: RunProcessOptions): Promise<ProcessResult> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new TypeError('`argv` must not be empty'));
  const max = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  return new Promise((resolve, reject) => {
    // detached: the child leads a new process group, so the timeout can kill it and everything it forked.
    const child = spawn(file, args, {
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      shell: false,
    });
    const out = capture(max);
    const err = capture(max);
    let timedOut = false;
    child.stdout.on('data', out.push);
    child.stderr.on('data', err.push);
    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
      options.onTimeout?.();
    }, options.timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      // Whatever the leader left behind in its group goes too.
      killGroup();
      const signo = signal === null ? undefined : constants.signals[signal];
      resolve({
        exitCode: code ?? (signo !== undefined ? 128 + signo : null),
        signal,
        timedOut,
        stdout: out.bytes(),
        stderr: err.bytes(),
        truncated: out.truncated() || err.truncated(),
      });
    });
  });
}

/** Keeps the first `max` bytes of a stream. */
function capture(max: number) {
  const chunks: Buffer[] = [];
  let kept = 0;
  let dropped = false;
  return {
    push: (chunk: Buffer) => {
      const room = max - kept;
      if (chunk.length > room) dropped = true;
      if (room <= 0) return;
      const part = chunk.subarray(0, room);
      chunks.push(part);
      kept += part.length;
    },
    bytes: () => Buffer.concat(chunks),
    truncated: () => dropped,
  };
}
