/** `--model`: a preset's name, or a JSON file holding a model's shape. */
import * as fs from 'node:fs/promises';
import { configError, parseOrThrow } from '../core/errors.ts';
import { ModelShapeSchema, PRESETS, type ModelShape } from '../schemas/train.ts';

export async function resolveModelShape(spec: string): Promise<ModelShape> {
  if (Object.hasOwn(PRESETS, spec)) return PRESETS[spec as keyof typeof PRESETS];
  let json: unknown;
  try {
    json = JSON.parse(await fs.readFile(spec, 'utf8'));
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw configError(`--model ${spec}: not a preset (${Object.keys(PRESETS).join(', ')}) and not a readable JSON file (${why})`);
  }
  return parseOrThrow(ModelShapeSchema, json, (at, message) =>
    configError(`--model ${spec}: ${at || 'file'}: ${message}`, 'expected {layers, hidden, intermediate, heads, kvHeads, ropeBase, normEps}'),
  );
}
