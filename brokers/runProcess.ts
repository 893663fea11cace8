import { type StdioNull, type StdioPipe, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants } from 'node:os';
import type { Duplex } from 'node:stream';

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
  /** Host uid and gid the child runs as (needs root; supplementary groups are dropped too). */
  uid?: number;
  gid?: number;
  /** Working directory of the child. Default the broker's. */
  cwd?: string;
  /**
   * Descriptors 3, 4, ... of the child: bytes are written to a fresh pipe (then closed) that the child reads
   * as that descriptor; a number is an open descriptor of this process passed as is.
   */
  extraFds?: ReadonlyArray<Buffer | number>;
}

/** What a finished process left. */
export interface ProcessResult {
  /** The exit status, or 128 + the signal number when a signal ended it, or null when neither is known. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** The first `maxOutputBytes` of stdout. */
  stdout: Buffer;
  stderr: Buffer;
  /** SHA-256 hex of *all* of stdout, streamed (also what was dropped past `maxOutputBytes`). */
  stdoutSha256: string;
  /** Bytes written to stdout in all. */
  stdoutBytes: number;
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
    const extra = options.extraFds ?? [];
    const stdio: Array<StdioNull | StdioPipe | number> = ['ignore', 'pipe', 'pipe'];
    for (const fd of extra) stdio.push(typeof fd === 'number' ? fd : 'pipe');
    // detached: the child leads a new process group, so the timeout can kill it and everything it forked.
    const child = spawn(file, args, {
      env: options.env,
      stdio,
      detached: true,
      shell: false,
      ...(options.uid !== undefined ? { uid: options.uid } : {}),
      ...(options.gid !== undefined ? { gid: options.gid } : {}),
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    });
    const stdout = child.stdout;
    const stderr = child.stderr;
    if (stdout === null || stderr === null) {
      reject(new Error('the child has no stdout or stderr pipe'));
      return;
    }
    extra.forEach((data, i) => {
      // A 'pipe' entry past stdio 2 is a duplex socket.
      const pipe = child.stdio[3 + i] as Duplex | null | undefined;
      if (typeof data === 'number' || pipe === null || pipe === undefined) return;
      // A child that exits before reading everything closes its end: that is its failure, not ours.
      pipe.on('error', () => undefined);
      // Anything the child writes back is dropped, and its end of file seen, so 'close' is not held up.
      pipe.resume();
      pipe.end(data);
    });
    const out = capture(max);
    const err = capture(max);
    const outHash = createHash('sha256');
    let outBytes = 0;
    let timedOut = false;
    stdout.on('data', (chunk: Buffer) => {
      // INVARIANT: the digest covers every byte of stdout, including what capture() drops.
      outHash.update(chunk);
      outBytes += chunk.length;
      out.push(chunk);
    });
    stderr.on('data', err.push);
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
        stdoutSha256: outHash.digest('hex'),
        stdoutBytes: outBytes,
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
