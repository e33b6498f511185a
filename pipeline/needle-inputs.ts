/**
 * What `meap eval --needle` reads: the haystack (the text records of any input `meap prepare` reads,
 * concatenated in order, a blank line between them) and a file of the user's own needles.
 *
 * Covered by test/e2e/needle.test.ts, through the CLI.
 */
import { InputError, MeapError, firstIssue, formatLocation } from '../core/errors.ts';
import type { HubOptions } from '../datasets/hub/http.ts';
import { readRecords } from '../datasets/read-records.ts';
import { resolveSources } from '../datasets/sources.ts';
import { NeedleSchema, type Needle } from '../schemas/needle.ts';

/** The haystack's first `chars` characters or more (all of it where it holds fewer), whole records. */
export async function readHaystack(inputs: string[], chars: number, hub: HubOptions): Promise<string> {
  const { files } = await resolveSources(inputs, { hub });
  const parts: string[] = [];
  let held = 0;
  for (const file of files) {
    for await (const rec of readRecords(file)) {
      if (rec.kind === 'error') throw rec.error;
      const text = (rec.value as { text?: unknown } | null)?.text;
      if (typeof text !== 'string') {
        throw new InputError('noText', 'the record has no "text" string', rec.where, 'the haystack is read as `meap prepare` reads pretraining text: one "text" field a record');
      }
      if (text.length === 0) continue;
      parts.push(text);
      held += text.length + 2;
      if (held >= chars) return parts.join('\n\n');
    }
  }
  return parts.join('\n\n');
}

/** The needles of a JSONL file, each {needle, question, answer}; a bad line is refused by its number. */
export async function readNeedleFile(file: string): Promise<Needle[]> {
  const { files } = await resolveSources([file], { format: 'jsonl' });
  const needles: Needle[] = [];
  for (const f of files) {
    for await (const rec of readRecords(f)) {
      if (rec.kind === 'error') throw rec.error;
      const parsed = NeedleSchema.safeParse(rec.value);
      if (!parsed.success) {
        const { at, message } = firstIssue(parsed.error);
        throw new MeapError('input', `${formatLocation(rec.where)}: ${at}: ${message}`, {}, 'write one {"needle", "question", "answer"} object a line');
      }
      needles.push(parsed.data);
    }
  }
  if (needles.length === 0) throw new MeapError('input', 'the needle file holds no needle', { file }, 'write one {"needle", "question", "answer"} object a line');
  return needles;
}
