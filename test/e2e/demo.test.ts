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

    // The demo built dist/: a plain node process (no TypeScript loader) imports the package's subpaths.
    const imports = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "for (const s of ['zt-infra/sdk', 'zt-infra/brokers', 'zt-infra/brokers/bwrap-local', 'zt-infra/brokers/docker-local', 'zt-infra/brokers/nono-cli', 'zt-infra/mcp']) { const m = await import(s); if (Object.keys(m).length === 0) throw new Error(s); }",
      ],
      { cwd: join(import.meta.dirname, '..', '..'), encoding: 'utf8' },
    );
    expect(imports.status, imports.stderr).toBe(0);
  }, 200_000);
});
