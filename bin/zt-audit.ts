#!/usr/bin/env node
// The `zt-audit` verifier CLI: a thin shell over bin/audit/runZtAudit.ts (which tests run in-process).
import { runZtAudit } from './audit/runZtAudit.js';

process.exitCode = await runZtAudit(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
});
