/**
 * `--model`: a preset by name or a JSON file of a shape; anything else is a one-line config error
 * that names the option and the file, never a stack trace or zod's multi-line dump.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MeapError } from '../../core/errors.ts';
import { PRESETS } from '../../schemas/train.ts';
import { resolveModelShape } from '../../trainer/model-shape.ts';
import { tempDir } from '../helpers/cli.ts';

function writeJson(name: string, text: string): string {
  const file = path.join(tempDir('meap-shape-'), name);
  fs.writeFileSync(file, text);
  return file;
}

async function refusal(spec: string): Promise<MeapError> {
  const e = await resolveModelShape(spec).then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(MeapError);
  const m = e as MeapError;
  expect(m.kind).toBe('config');
  expect(m.exitCode).toBe(2);
  expect(m.message).not.toContain('\n');
  expect(m.message).toContain(`--model ${spec}`);
  return m;
}

describe('resolveModelShape', () => {
  it('returns a preset by name', async () => {
    for (const name of Object.keys(PRESETS) as (keyof typeof PRESETS)[]) {
      expect(await resolveModelShape(name)).toEqual(PRESETS[name]);
    }
  });

  it('reads a shape from a JSON file, filling in ropeBase and normEps', async () => {
    const file = writeJson('shape.json', JSON.stringify({ layers: 1, hidden: 32, intermediate: 48, heads: 4, kvHeads: 1 }));
    expect(await resolveModelShape(file)).toEqual({ layers: 1, hidden: 32, intermediate: 48, heads: 4, kvHeads: 1, ropeBase: 10000, normEps: 1e-5 });
    const full = { layers: 3, hidden: 24, intermediate: 40, heads: 2, kvHeads: 2, ropeBase: 500000, normEps: 1e-6 };
    expect(await resolveModelShape(writeJson('full.json', JSON.stringify(full)))).toEqual(full);
  });

  it('refuses a name that is neither a preset nor a file, listing the presets', async () => {
    const missing = path.join(tempDir('meap-shape-'), 'nope.json');
    const e = await refusal(missing);
    expect(e.message).toContain('not a preset');
    expect(e.message).toContain(Object.keys(PRESETS).join(', '));
    expect(e.message).toContain('ENOENT');
    // A near-miss of a preset's name is not a preset either.
    expect((await refusal('Tiny')).message).toContain('not a preset');
  });

  it('refuses a file that is not JSON', async () => {
    const e = await refusal(writeJson('bad.json', '{"layers": 2,'));
    expect(e.message).toContain('not a readable JSON file');
  });

  it('refuses a shape that fails the schema, naming the field', async () => {
    const ok = { layers: 2, hidden: 64, intermediate: 172, heads: 4, kvHeads: 2 };
    const negative = await refusal(writeJson('neg.json', JSON.stringify({ ...ok, layers: -1 })));
    expect(negative.message).toMatch(/: layers: /);
    const missing = await refusal(writeJson('short.json', JSON.stringify({ layers: 2, hidden: 64 })));
    expect(missing.message).toMatch(/: intermediate: /);
    const extra = await refusal(writeJson('extra.json', JSON.stringify({ ...ok, dropout: 0.1 })));
    expect(extra.message).toContain('dropout');
    // A shape whose fields are each valid but do not fit together is the file's fault as a whole.
    const groups = await refusal(writeJson('gqa.json', JSON.stringify({ ...ok, kvHeads: 3 })));
    expect(groups.message).toContain(': file: heads must be a multiple of kvHeads');
    expect(groups.message).toContain('expected {layers, hidden, intermediate, heads, kvHeads, ropeBase, normEps}');
  });
});
