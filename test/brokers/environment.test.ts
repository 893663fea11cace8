import { describe, expect, it } from 'vitest';
import { envAllowlist, envNames, envValues, steersCode } from '../../brokers/environment.js';

/** The operator's allowlist and what a spec may pick from it. */

describe('when a name is checked for steering code', () => {
  it.each([
    'LD_PRELOAD',
    'LD_LIBRARY_PATH',
    'DYLD_INSERT_LIBRARIES',
    'BASH_ENV',
    'ENV',
    'BASH_FUNC_ls%%',
    'PATH',
    'PERL5OPT',
    'PERL5LIB',
    'PYTHONPATH',
    'PYTHONSTARTUP',
    'NODE_OPTIONS',
    'RUBYOPT',
    'JAVA_TOOL_OPTIONS',
    'GIT_SSH_COMMAND',
    'GLIBC_TUNABLES',
    'GCONV_PATH',
    'EDITOR',
    'LESSOPEN',
  ])('refuses `%s`', (name) => {
    expect(steersCode(name)).toBe(true);
  });

  it.each(['LANG', 'TZ', 'ZT_TOKEN', 'NODE_ENV', 'CI'])('accepts `%s`', (name) => {
    expect(steersCode(name)).toBe(false);
  });
});

describe('when an operator allowlist is built', () => {
  it('refuses a malformed name, a steering name and a reserved one with INVALID_OPTIONS', () => {
    for (const names of [['A=B'], ['LD_AUDIT'], ['NONO_X']]) {
      expect(() => envAllowlist(names, 'test', [/^NONO_/])).toThrowError(
        expect.objectContaining({ code: 'INVALID_OPTIONS' }) as unknown as Error,
      );
    }
  });

  it('is empty by default', () => {
    expect([...envAllowlist(undefined, 'test')]).toEqual([]);
  });
});

describe('when a spec picks names', () => {
  const allowed = envAllowlist(['ZT_B', 'ZT_A'], 'test');

  it('returns them sorted', () => {
    expect(envNames(['ZT_B', 'ZT_A'], allowed)).toEqual(['ZT_A', 'ZT_B']);
  });

  it.each([[['ZT_C']], [['ZT_A', 'ZT_A']], [['zt a']], ['ZT_A']])('refuses %j with INVALID_SPEC', (raw) => {
    expect(() => envNames(raw, allowed)).toThrowError(
      expect.objectContaining({ code: 'INVALID_SPEC' }) as unknown as Error,
    );
  });

  it('passes the values that are set, and nothing for an unset name', () => {
    expect(envValues(['ZT_A', 'ZT_B'], { ZT_A: 'a', ZT_C: 'c' })).toEqual({ ZT_A: 'a' });
  });
});
