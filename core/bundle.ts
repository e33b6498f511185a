/**
 * Our TypeScript as plain JavaScript that Node loads without tsx: the worker bundles
 * (core/worker-entry.ts) and the CLI's (cli/cli-bundle.ts). esbuild is the compiler tsx runs on, so the
 * code is the code tsx would run; the bundles live in $MEAP_CACHE, away from the sources, so:
 *  - packages stay imports, by the file URL esbuild resolves them to from the importing source, unless
 *    named in `inline` (a package inlined brings along what it imports itself);
 *  - `import.meta.url` in a source becomes that source's own URL, so `new URL('./x.ts', import.meta.url)`
 *    and `createRequire(import.meta.url)` find what they find under tsx. Any other property of
 *    import.meta fails the build rather than mean something else in the bundle;
 *  - every build reads the compiler options the sources are written for (tsconfig.json), and counts
 *    that file among its inputs: an edit to it rebuilds the worker bundles as well as the CLI's.
 *
 * Covered by test/core/worker-entry.test.ts and test/e2e/fast-start.test.ts.
 */
import * as fs from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BuildOptions, OutputFile } from 'esbuild';

export interface Bundled {
  /** The output files, as esbuild names them under `outdir`. */
  files: OutputFile[];
  /**
   * Every file the build read, and the file each package import names (absolute paths): what the
   * bundle must be rebuilt after a change of; `npm ci` rewrites a package's files.
   */
  inputs: string[];
}

const SELF = Symbol('resolving for packages-by-url');
const TSCONFIG = fileURLToPath(new URL('../tsconfig.json', import.meta.url));

export async function bundle(options: BuildOptions & { inline?: ReadonlySet<string> }): Promise<Bundled> {
  const { inline = new Set(), ...rest } = options;
  const { build } = await import('esbuild');
  const root = path.parse(process.cwd()).root;
  const packages = new Set<string>();
  const result = await build({
    ...rest,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: root,
    tsconfig: TSCONFIG,
    plugins: [
      {
        name: 'packages-by-url',
        setup(b) {
          b.onResolve({ filter: /^[^./]/ }, async (args) => {
            if (args.pluginData === SELF) return undefined;
            if (isBuiltin(args.path)) return { path: args.path, external: true };
            const name = /^(@[^/]+\/)?[^/]+/.exec(args.path)![0];
            if (inline.has(name) || args.importer.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
            const found = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: SELF });
            if (found.errors.length > 0) return { errors: found.errors };
            packages.add(found.path);
            return { path: pathToFileURL(found.path).href, external: true };
          });
        },
      },
      {
        name: 'source-urls',
        setup(b) {
          b.onLoad({ filter: /\.ts$/ }, async (args) => {
            const source = await fs.readFile(args.path, 'utf8');
            const contents = source.replace(/\bimport\.meta\.url\b/g, JSON.stringify(pathToFileURL(args.path).href));
            if (/\bimport\.meta\.(?!url\b)\w/.test(contents)) return { errors: [{ text: `${args.path}: only import.meta.url has a meaning in a bundle` }] };
            return { contents, loader: 'ts' };
          });
        },
      },
    ],
  });
  return { files: result.outputFiles, inputs: [...Object.keys(result.metafile.inputs).map((p) => path.resolve(root, p)), ...packages, TSCONFIG] };
}
