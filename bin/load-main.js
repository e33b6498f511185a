// The CLI's main(argv), from its bundle in the cache (cli/cli-bundle.ts) while no source has changed since
// it was built, else built again first, through tsx; where the cache cannot be written, tsx runs the
// sources. bin/meap.js runs it; bench/prepare-once.ts times `prepare` through it, as users run it.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freshIndex, indexFile } from '../core/stamps.js';

export async function loadMain() {
  const index = indexFile('cli', fileURLToPath(new URL('../cli/main.ts', import.meta.url)));
  const fresh = freshIndex(index);
  if (typeof fresh?.main === 'string') return import(pathToFileURL(fresh.main).href);
  const { register } = await import('tsx/esm/api');
  register();
  const { buildCli } = await import('../cli/cli-bundle.ts');
  // A refused cache or a source esbuild cannot compile: tsx runs the sources, and says what is wrong.
  const built = await buildCli(index).catch(() => '../cli/main.ts');
  return import(built);
}
