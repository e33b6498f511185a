/**
 * Inputs from anywhere: local paths, directories and globs, and `hf://datasets/ORG/NAME[@REV]/GLOB`
 * hub inputs, which are downloaded into the cache first and then read as local files. A hub
 * input's path in the manifest is `hf://datasets/ORG/NAME@SHA/PATH`, pinned to the commit.
 *
 * Tested through the CLI, where it joins local and hub inputs: test/e2e/prepare.test.ts (local
 * inputs) and test/e2e/hub-cli.test.ts (hub inputs against a fake hub, pinned paths in the manifest).
 */
import { stat } from 'node:fs/promises';
import { MeapError } from '../core/errors.ts';
import type { InputFormat } from '../schemas/enums.ts';
import { download } from './hub/download.ts';
import type { HubOptions } from './hub/http.ts';
import { isHubUri, parseHfUri } from './hub/uri.ts';
import { detectFormat, resolveInputs } from './inputs.ts';
import type { InputFile } from './types.ts';

export async function resolveSources(specs: string[], o: { format?: InputFormat; hub?: HubOptions }): Promise<InputFile[]> {
  const local = specs.filter((s) => !isHubUri(s));
  const files: InputFile[] = local.length > 0 ? (await resolveInputs(local, { format: o.format })).files : [];
  for (const spec of specs.filter(isHubUri)) {
    const ref = parseHfUri(spec);
    if (ref.repoType !== 'dataset') throw new MeapError('usage', `${spec}: inputs must be datasets (hf://datasets/ORG/NAME/GLOB)`);
    const got = await download(ref, o.hub ?? {});
    for (const f of got.files) {
      const format = o.format ?? detectFormat(f.path);
      if (format === undefined) continue; // README.md, .gitattributes and the like, matched by a broad glob
      files.push({ abs: f.local, rel: f.uri, format, size: (await stat(f.local)).size });
    }
  }
  const seen = new Set<string>();
  const unique = files.filter((f) => !seen.has(f.rel) && seen.add(f.rel));
  if (unique.length === 0) throw new MeapError('usage', `no input files in ${specs.join(', ')}`);
  return unique.sort((a, b) => Buffer.compare(Buffer.from(a.rel), Buffer.from(b.rel)));
}

