import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { runProcess } from '../../brokers/runProcess.js';

/** The process runner every broker uses, with plain host processes (no sandbox needed). */

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const env = { PATH: '/usr/bin:/bin' };

describe('when a process writes more than the capture limit', () => {
  it('keeps the first bytes and hashes the whole stream', async () => {
    // Prepare: 3 000 000 bytes that differ along the stream, so a digest of a prefix cannot match
    const script =
      'const b = Buffer.alloc(3000000); for (let i = 0; i < b.length; i++) b[i] = i % 251; process.stdout.write(b);';
    const expected = Buffer.alloc(3_000_000);
    for (let i = 0; i < expected.length; i++) expected[i] = i % 251;
    // Act
    const result = await runProcess([process.execPath, '-e', script], { env, timeoutMs: 20_000 });
    // Assess
    expect(result.exitCode).toBe(0);
    expect(result.stdout.equals(expected.subarray(0, 1 << 20))).toBe(true);
    expect(result.truncated).toBe(true);
    expect(result.stdoutBytes).toBe(3_000_000);
    expect(result.stdoutSha256).toBe(sha256(expected));
  });
});

describe('when extra descriptors are given', () => {
  it('hands the bytes to the child on descriptor 3 and closes it', async () => {
    const data = Buffer.from('bytes on fd 3\n');
    const result = await runProcess(['/bin/sh', '-c', 'cat <&3'], {
      env,
      timeoutMs: 10_000,
      extraFds: [data],
    });
    expect(result.stdout).toEqual(data);
    expect(result.exitCode).toBe(0);
  });
});
