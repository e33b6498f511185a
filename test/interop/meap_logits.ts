/**
 * meap's reference logits for test/interop/test_export.py: the run's latest checkpoint loaded into
 * trainer/model.ts's LlamaModel, run on the rows of BATCH.json ({"input_ids": [[...]], "position_ids":
 * [[...]]}, rows of one length), written to OUT as float32 little-endian [rows, length, vocabRows].
 *
 *   npx tsx test/interop/meap_logits.ts RUN BATCH.json OUT [--backend cpu|wasm]
 */
import * as fs from 'node:fs/promises';
import { IGNORE_INDEX } from '../../core/constants.ts';
import type { ModelShape } from '../../schemas/train.ts';
import type { BackendChoice } from '../../schemas/enums.ts';
import { selectBackend } from '../../trainer/backend.ts';
import { loadLatestCheckpoint } from '../../trainer/checkpoint.ts';
import { leBytes } from '../../trainer/le-float32.ts';
import { LlamaModel } from '../../trainer/model.ts';

const [run, batchFile, out, flag, backend] = process.argv.slice(2);
if (out === undefined || (flag !== undefined && flag !== '--backend')) {
  process.stderr.write('usage: meap_logits.ts RUN BATCH.json OUT [--backend cpu|wasm]\n');
  process.exit(2);
}
await selectBackend((backend ?? 'cpu') as BackendChoice);
const ckpt = await loadLatestCheckpoint(run);
if (ckpt === null) throw new Error(`no checkpoint in ${run}`);
const { input_ids: ids, position_ids: pos } = JSON.parse(await fs.readFile(batchFile, 'utf8')) as { input_ids: number[][]; position_ids: number[][] };
const rows = ids.length;
const length = ids[0].length;
const model = new LlamaModel({ ...(ckpt.extra.shape as ModelShape), vocabRows: ckpt.extra.vocabRows as number }, 0);
model.loadWeights(ckpt.params);
const logits = model.logits({
  rows,
  length,
  inputIds: Int32Array.from(ids.flat()),
  labels: new Int32Array(rows * length).fill(IGNORE_INDEX),
  positionIds: Int32Array.from(pos.flat()),
});
await fs.writeFile(out, leBytes((await logits.data()) as Float32Array));
process.stdout.write(`${JSON.stringify({ shape: logits.shape, step: ckpt.step })}\n`);
