import { z } from 'zod';
import { parsePrompt, type Placeholder, type TemplateSegment } from './prompt.ts';

const uses = (segments: TemplateSegment[], ...names: Placeholder[]) =>
  segments.some((s) => 'placeholder' in s && names.includes(s.placeholder));

const inLiteral = (segments: TemplateSegment[], marker: string) => segments.some((s) => 'literal' in s && s.literal.includes(marker));

/** A `--template FILE.json`. Strict: a misspelt key (say `prompt_with_input`) must fail, not be ignored. */
export const TemplateFileSchema = z
  .strictObject({
    name: z.string().min(1),
    /** Used when the record's input is empty. */
    prompt: z.string().min(1),
    /** Used when the record's input is not empty; defaults to `prompt`. */
    promptWithInput: z.string().min(1).optional(),
    /** The `{system}` text, unless a ShareGPT record brings its own system_prompt. */
    system: z.string().optional(),
    /** Literal strings of the prompts that must each be one special token of the tokenizer. */
    markers: z.array(z.string().min(1)).optional(),
    /** The special token that begins every example (Llama-3: `<|begin_of_text|>`); default: the tokenizer's BOS. */
    bosToken: z.string().min(1).optional(),
    /** The special token that ends every answer, the end of turn (Llama-3: `<|eot_id|>`); default: the tokenizer's EOS. */
    eosToken: z.string().min(1).optional(),
  })
  .superRefine((t, ctx) => {
    const parsed: Array<[string, TemplateSegment[]]> = [];
    for (const key of ['prompt', 'promptWithInput'] as const) {
      const text = t[key];
      if (text === undefined) continue;
      const r = parsePrompt(text);
      if ('error' in r) {
        ctx.addIssue({ code: 'custom', path: [key], message: r.error });
        return;
      }
      parsed.push([key, r.segments]);
    }
    const [, prompt] = parsed[0];
    const withInput = parsed[1]?.[1] ?? prompt;
    // A template that leaves out the record's own text would silently train on prompts without it.
    if (!uses(prompt, 'instruction', 'query')) {
      ctx.addIssue({ code: 'custom', path: ['prompt'], message: 'uses neither {instruction} nor {query}, so the instruction would be dropped' });
    }
    if (!uses(withInput, 'instruction', 'query') || !uses(withInput, 'input', 'query')) {
      const key = t.promptWithInput === undefined ? 'prompt' : 'promptWithInput';
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `is used for records with an input but does not use both {instruction} and {input} (or {query}), so part of the record would be dropped${t.promptWithInput === undefined ? '; add promptWithInput' : ''}`,
      });
    }
    const markers = t.markers ?? [];
    const seen = new Set<string>();
    markers.forEach((m, i) => {
      if (seen.has(m)) ctx.addIssue({ code: 'custom', path: ['markers', i], message: `${JSON.stringify(m)} is listed twice` });
      seen.add(m);
      // Markers are looked for in the literal text only, so one that is never there is a typo.
      if (!parsed.some(([, segs]) => inLiteral(segs, m))) {
        ctx.addIssue({ code: 'custom', path: ['markers', i], message: `${JSON.stringify(m)} does not occur in the literal text of prompt or promptWithInput` });
      }
    });
  });

export type TemplateFile = z.infer<typeof TemplateFileSchema>;
