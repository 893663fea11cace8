import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const dir = join(import.meta.dirname, '..', '..', '.github', 'workflows');
const files = readdirSync(dir).filter((f) => f.endsWith('.yml') || f.endsWith('.yaml'));

interface Workflow {
  permissions?: unknown;
  jobs: Record<string, { steps?: Array<{ uses?: string; run?: string }> }>;
}

describe('when the repository workflows are read', () => {
  it('has CI, CodeQL and dependency review', () => {
    expect(files.sort()).toEqual(expect.arrayContaining(['ci.yml', 'codeql.yml', 'dependency-review.yml']));
  });

  for (const file of files) {
    const wf = parse(readFileSync(join(dir, file), 'utf8')) as Workflow;
    it(`${file}: top-level permissions are contents: read`, () => {
      expect(wf.permissions).toEqual({ contents: 'read' });
    });
    it(`${file}: every action is pinned by a full commit SHA`, () => {
      const uses = Object.values(wf.jobs).flatMap((j) => (j.steps ?? []).map((s) => s.uses).filter(Boolean));
      expect(uses.length).toBeGreaterThan(0);
      for (const u of uses) expect(u).toMatch(/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/);
    });
  }

  it('runs npm ci and npm test, npm audit --omit=dev, a secret scan and a CycloneDX SBOM', () => {
    const ci = parse(readFileSync(join(dir, 'ci.yml'), 'utf8')) as Workflow;
    const steps = Object.values(ci.jobs).flatMap((j) => j.steps ?? []);
    const runs = steps.map((s) => s.run ?? '');
    expect(runs).toContain('npm ci');
    expect(runs).toContain('npm test');
    expect(runs).toContain('npm audit --omit=dev');
    expect(runs.some((r) => r.startsWith('npm sbom --sbom-format cyclonedx'))).toBe(true);
    expect(steps.some((s) => s.uses?.startsWith('trufflesecurity/trufflehog@'))).toBe(true);
  });
});
