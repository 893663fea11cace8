import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// The five-minute story runs as a user runs it: `npm run demo` (build included) must exit 0 and show
// the deny before execution and the verified log.
describe('when the demo runs', () => {
  it('shows deny-before-execute, the one allowed action, and a verified log', () => {
    const out = spawnSync('npm', ['run', '-s', 'demo'], {
      cwd: join(import.meta.dirname, '..', '..'),
      encoding: 'utf8',
      timeout: 180_000,
      env: { ...process.env, NO_COLOR: '1' },
    });
    expect(out.status, out.stderr).toBe(0);
    expect(out.stdout).toContain('[4/7] denied before execution');
    expect(out.stdout).toContain('protected function ran: no');
    expect(out.stdout).toMatch(/"decision": "deny"/);
    expect(out.stdout).toContain('allowed and ran: hello, world (ran 1 time)');
    expect(out.stdout).toMatch(/verified: \d+ records \(seq 1-\d+\)/);
  }, 200_000);
});
