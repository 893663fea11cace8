import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { buildApp } from './app.js';

/** A function's built asset: the directory Lambda receives, holding `index.mjs` (+ map, Cedar wasm). */
export interface BuiltBundle {
  logicalId: string;
  dir: string;
  entry: string;
}

/**
 * Synthesizes the app with real bundling (local esbuild, exactly as `cdk synth` does) into `outdir` and
 * returns the asset of each function, keyed by construct id prefix (`Decisions`, `Admin`, `Audit`,
 * `Checkpoint`). Used by the bundle test and `bench/bundle.ts`.
 */
export function synthBundles(outdir: string): Record<string, BuiltBundle> {
  // asset metadata (aws:asset:path) is what the CLI turns on; it names each function's asset directory
  const app = new App({ outdir, context: { 'aws:cdk:enable-asset-metadata': true } });
  const { stack } = buildApp(app);
  const assembly = app.synth();
  const template = assembly.getStackByName(stack.stackName).template as {
    Resources: Record<string, { Type: string; Metadata?: Record<string, string> }>;
  };
  const out: Record<string, BuiltBundle> = {};
  for (const [logicalId, r] of Object.entries(template.Resources)) {
    if (r.Type !== 'AWS::Lambda::Function') continue;
    const assetPath = r.Metadata?.['aws:asset:path'];
    const name = /^([A-Z][a-z]+)Function/.exec(logicalId)?.[1];
    if (!assetPath || !name) continue;
    const dir = join(assembly.directory, assetPath);
    const entry = join(dir, 'index.mjs');
    if (!existsSync(entry)) throw new Error(`bundle of ${logicalId} has no index.mjs in ${dir}`);
    out[name] = { logicalId, dir, entry };
  }
  return out;
}
