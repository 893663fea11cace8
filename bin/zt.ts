#!/usr/bin/env node
// The `zt` admin CLI: a thin shell over bin/cli/runZt.ts (which tests run in-process).

// The AWS SDK warns about Node 20 at first use; the CLI supports Node 20 (see package.json engines).
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

const { runZt } = await import('./cli/runZt.js');
process.exitCode = await runZt(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  cwd: process.cwd(),
});
