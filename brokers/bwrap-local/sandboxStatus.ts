/**
 * What the bwrap broker demands of the credentials a command gets inside the sandbox, checked on the
 * `/proc/self/status` a probe printed from inside the very same sandbox configuration.
 */

const CAPABILITY_SETS = ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'] as const;

/**
 * The problems with a sandboxed process's `/proc/self/status` text; empty when it is safe to run in: every
 * uid and gid (real, effective, saved, filesystem) non-zero, every capability set empty (so no capability
 * can come back either), and `NoNewPrivs` set (a set-uid file cannot raise it). Anything missing or
 * unreadable is a problem: what cannot be checked is not trusted.
 */
export function sandboxStatusProblems(status: string): string[] {
  const fields = new Map<string, string>();
  for (const line of status.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  const problems: string[] = [];
  for (const key of ['Uid', 'Gid']) {
    const value = fields.get(key);
    const ids = value?.split(/\s+/) ?? [];
    if (ids.length !== 4 || ids.some((id) => !/^[0-9]+$/.test(id))) {
      problems.push(`\`${key}\` is missing or malformed, got \`${value ?? ''}\``);
    } else if (ids.some((id) => Number(id) === 0)) {
      problems.push(`\`${key}\` includes 0 (root): \`${value}\``);
    }
  }
  for (const key of CAPABILITY_SETS) {
    const value = fields.get(key);
    if (value === undefined || !/^[0-9a-f]{1,32}$/i.test(value)) {
      problems.push(`\`${key}\` is missing or malformed, got \`${value ?? ''}\``);
    } else if (BigInt(`0x${value}`) !== 0n) {
      problems.push(`\`${key}\` is \`${value}\`, expected no capabilities`);
    }
  }
  const noNewPrivs = fields.get('NoNewPrivs');
  if (noNewPrivs !== '1') problems.push(`\`NoNewPrivs\` is \`${noNewPrivs ?? ''}\`, expected \`1\``);
  return problems;
}
