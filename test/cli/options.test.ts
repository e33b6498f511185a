/**
 * Options built from the zod schemas. First the builder on a small schema of every kind of field:
 * the parser, choices, default and mandatory flag each option gets, which options reach the config,
 * and how a refused config reads. Then the real `meap`: every option's default in `--help` is the
 * one its schema holds, and an option of the other `--mode` is refused in one line.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MeapError } from '../../core/errors.ts';
import { DownloadConfigSchema } from '../../schemas/download.ts';
import { InspectConfigSchema } from '../../schemas/inspect.ts';
import { PrepareConfigSchema, PretrainOptionsSchema, SftOptionsSchema } from '../../schemas/prepare.ts';
import { EvalConfigSchema, NeedleConfigSchema, OrderConfigSchema, TrainConfigSchema } from '../../schemas/train.ts';
import { addOptions, defaultOf, givenOptions, optionFor, parseConfig, type Flags } from '../../cli/options.ts';
import { llama2, meapAsync, slimpajama, tempDir } from '../helpers/cli.ts';

const MIN_COUNT = 3;
const Schema = z.strictObject({
  count: z.number().int().min(MIN_COUNT).default(7),
  seed: z.number().int().min(0).optional(),
  ratio: z.number().min(0).max(1).default(0.25),
  scale: z.number().min(0).default(1.5),
  colour: z.enum(['red', 'green', 'blue']).default('green'),
  name: z.string().min(1),
  tags: z.array(z.string()).default([]),
  verbose: z.boolean().default(false),
  bos: z.boolean().default(true),
  out: z.string().min(1),
});
const FLAGS: Flags = {
  count: { flags: '--count <n>', help: 'how many' },
  seed: { flags: '--seed <int>', help: 'a seed' },
  ratio: { flags: '--ratio <r>', help: 'a fraction' },
  scale: { flags: '--scale <x>', help: 'a scale' },
  colour: { flags: '--colour <c>', help: 'a colour' },
  name: { flags: '--name <s>', help: 'a name' },
  tags: { flags: '--tag <t>', help: 'a tag (repeatable)' },
  verbose: { flags: '--verbose', help: 'say more' },
  bos: { flags: '--no-bos', help: 'no BOS (default: on)' },
  out: { flags: '-o, --out <dir>', help: 'where', default: 'here' },
};

/** A command with FLAGS whose errors throw instead of exiting, and whose output is kept. */
function command(): { cmd: Command; err: () => string } {
  let err = '';
  const cmd = new Command('t').exitOverride().configureOutput({ writeOut: () => {}, writeErr: (s) => (err += s) });
  addOptions(cmd, Schema.shape, FLAGS);
  return { cmd, err: () => err };
}

function parse(args: string[]): Command {
  const { cmd } = command();
  cmd.parse(args, { from: 'user' });
  return cmd;
}

function commanderError(args: string[]): { error: CommanderError; stderr: string } {
  const { cmd, err } = command();
  try {
    cmd.parse(args, { from: 'user' });
  } catch (e) {
    expect(e).toBeInstanceOf(CommanderError);
    return { error: e as CommanderError, stderr: err() };
  }
  throw new Error(`${args.join(' ')} was accepted`);
}

function usageError(f: () => unknown): MeapError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(MeapError);
    expect((e as MeapError).kind).toBe('usage');
    expect((e as MeapError).message).not.toContain('\n');
    return e as MeapError;
  }
  throw new Error('no error');
}

const argError = (option: ReturnType<typeof optionFor>, value: string) => {
  expect(() => option.parseArg!(value, undefined)).toThrow(InvalidArgumentError);
  try {
    option.parseArg!(value, undefined);
  } catch (e) {
    return (e as Error).message;
  }
};

describe('optionFor', () => {
  it('gives an int field a whole-number parser whose error names the flag and the schema minimum', () => {
    const count = optionFor(Schema.shape.count, FLAGS.count);
    expect(count.parseArg!('12', undefined)).toBe(12);
    expect(count.parseArg!(String(MIN_COUNT), undefined)).toBe(MIN_COUNT);
    for (const bad of [String(MIN_COUNT - 1), '-4', '2.5', '1e3', 'x', '', ' ', String(2 ** 53)]) {
      expect(argError(count, bad)).toBe(`--count must be a whole number ≥ ${MIN_COUNT}.`);
    }
    // The minimum follows the schema: another field's own minimum, 0 where there is none.
    expect(argError(optionFor(z.number().int().min(16), { flags: '--seq-len <n>', help: '' }), '8')).toBe('--seq-len must be a whole number ≥ 16.');
    expect(argError(optionFor(Schema.shape.seed, FLAGS.seed), '-1')).toBe('--seed must be a whole number ≥ 0.');
    // Through commander, as the user sees it.
    const { error, stderr } = commanderError(['--name', 'n', '--count', '2']);
    expect(error.code).toBe('commander.invalidArgument');
    expect(stderr).toBe(`error: option '--count <n>' argument '2' is invalid. --count must be a whole number ≥ ${MIN_COUNT}.\n`);
  });

  it('gives a 0..1 number the fraction parser, and another number a non-negative one', () => {
    const ratio = optionFor(Schema.shape.ratio, FLAGS.ratio);
    expect(ratio.parseArg!('0', undefined)).toBe(0);
    expect(ratio.parseArg!('0.5', undefined)).toBe(0.5);
    expect(ratio.parseArg!('1', undefined)).toBe(1);
    for (const bad of ['1.5', '-0.1', 'half', '', 'Infinity']) expect(argError(ratio, bad)).toBe('must be a number from 0 to 1.');
    const scale = optionFor(Schema.shape.scale, FLAGS.scale);
    expect(scale.parseArg!('2.5e-3', undefined)).toBe(2.5e-3);
    for (const bad of ['-1', 'NaN', '', 'Infinity']) expect(argError(scale, bad)).toBe('--scale must be a number ≥ 0.');
  });

  it('gives an enum its choices, which commander enforces', () => {
    expect(optionFor(Schema.shape.colour, FLAGS.colour).argChoices).toEqual(['red', 'green', 'blue']);
    expect(parse(['--name', 'n', '--colour', 'blue']).opts().colour).toBe('blue');
    const { error } = commanderError(['--name', 'n', '--colour', 'pink']);
    expect(error.code).toBe('commander.invalidArgument');
    expect(error.message).toContain('Allowed choices are red, green, blue.');
  });

  it("shows the schema's default in --help, and a Flag may replace or hide it", () => {
    for (const key of ['count', 'ratio', 'colour', 'tags', 'verbose'] as const) {
      expect(optionFor(Schema.shape[key], FLAGS[key]).defaultValue).toEqual(Schema.shape[key].parse(undefined));
    }
    const help = command().cmd.helpInformation();
    expect(help).toMatch(/--count <n>\s+how many \(default: 7\)/);
    expect(help).toMatch(/--ratio <r>\s+a fraction \(default: 0\.25\)/);
    expect(help).toMatch(/--colour <c>\s+a colour \(choices: "red", "green", "blue", default: "green"\)/);
    expect(help).toMatch(/--tag <t>\s+a tag \(repeatable\) \(default: \[\]\)/);
    expect(help).toMatch(/--verbose\s+say more \(default: false\)/);
    // `--no-x` defaults to on by itself; its help text says so.
    expect(help).toMatch(/--no-bos\s+no BOS \(default: on\)\n/);
    // An optional field without a default shows none.
    expect(help).toMatch(/--seed <int>\s+a seed\n/);
    // A Flag's own default is this command's: shown, and the option is no longer mandatory.
    expect(help).toMatch(/-o, --out <dir>\s+where \(default: "here"\)/);
    expect(optionFor(Schema.shape.out, FLAGS.out).mandatory).toBe(false);
    const runtime = optionFor(Schema.shape.count, { ...FLAGS.count, defaultHelp: 'the core count' });
    expect(new Command('t').addOption(runtime).helpInformation()).toMatch(/how many \(default: the core count\)/);
    const hidden = optionFor(Schema.shape.count, { ...FLAGS.count, hideDefault: true });
    expect(new Command('t').addOption(hidden).helpInformation()).not.toContain('default');
  });

  it('makes a required field a mandatory option, and leaves booleans and fields with a default optional', () => {
    expect(optionFor(Schema.shape.name, FLAGS.name).mandatory).toBe(true);
    for (const key of ['count', 'seed', 'tags', 'verbose', 'bos'] as const) expect(optionFor(Schema.shape[key], FLAGS[key]).mandatory).toBe(false);
    const { error } = commanderError(['--count', '4']);
    expect(error.code).toBe('commander.missingMandatoryOptionValue');
    expect(error.message).toBe("error: required option '--name <s>' not specified");
  });

  it('makes an array field repeatable', () => {
    expect(parse(['--name', 'n', '--tag', 'a', '--tag', 'b', '--tag', 'a']).opts().tag).toEqual(['a', 'b', 'a']);
    expect(parse(['--name', 'n']).opts().tag).toEqual([]);
  });

  it('refuses a flag with no schema field', () => {
    expect(() => addOptions(new Command('t'), Schema.shape, { colour: FLAGS.colour, size: { flags: '--size <n>', help: '' } })).toThrow('no schema field for option size');
  });

  it('defaultOf reads a default from the schema, and nothing for a field without one', () => {
    expect(defaultOf(Schema.shape.count)).toBe(7);
    expect(defaultOf(Schema.shape.colour)).toBe('green');
    expect(defaultOf(Schema.shape.seed)).toBeUndefined();
    expect(defaultOf(Schema.shape.name)).toBeUndefined();
  });
});

describe('givenOptions', () => {
  it('passes on only what the user typed, under schema keys, plus a Flag’s own default', () => {
    const cmd = parse(['--name', 'n', '--count', '9', '--tag', 'x', '--no-bos']);
    expect(givenOptions(cmd, FLAGS)).toEqual({ name: 'n', count: 9, tags: ['x'], bos: false, out: 'here' });
    // The schema fills in the rest: its defaults, not commander's copies of them.
    expect(parseConfig(Schema, givenOptions(cmd, FLAGS), FLAGS)).toEqual({
      count: 9, ratio: 0.25, scale: 1.5, colour: 'green', name: 'n', tags: ['x'], verbose: false, bos: false, out: 'here',
    });
    expect(givenOptions(parse(['--name', 'n']), FLAGS)).toEqual({ name: 'n', out: 'here' });
    expect(givenOptions(parse(['--name', 'n', '--out', 'there', '--verbose']), FLAGS)).toEqual({ name: 'n', out: 'there', verbose: true });
  });
});

describe('parseConfig', () => {
  const A = z.strictObject({ mode: z.literal('a'), size: z.number().int().min(1).default(4), onlyA: z.string().optional() });
  const B = z.strictObject({ mode: z.literal('b'), size: z.number().int().min(1).default(4), onlyB: z.boolean().default(false) });
  const Modes = z.discriminatedUnion('mode', [A, B]);
  const MODE_FLAGS: Flags = {
    mode: { flags: '--mode <m>', help: '' },
    size: { flags: '--size <n>', help: '' },
    onlyA: { flags: '--only-a <s>', help: '' },
    onlyB: { flags: '--only-b', help: '' },
  };
  const owner = (key: string) => (key in A.shape && !(key in B.shape) ? 'a' : key in B.shape && !(key in A.shape) ? 'b' : undefined);

  it('returns the parsed config with the defaults filled in', () => {
    expect(parseConfig(Modes, { mode: 'b' }, MODE_FLAGS, owner)).toEqual({ mode: 'b', size: 4, onlyB: false });
  });

  it("names the mode that reads an option the chosen mode's schema refuses", () => {
    const e = usageError(() => parseConfig(Modes, { mode: 'a', onlyB: true }, MODE_FLAGS, owner));
    expect(e.message).toBe('--only-b applies to --mode b only (drop it, or pass --mode b)');
    expect(usageError(() => parseConfig(Modes, { mode: 'b', onlyA: 'x' }, MODE_FLAGS, owner)).message).toBe('--only-a applies to --mode a only (drop it, or pass --mode a)');
    // Without an owner it is simply not an option here.
    expect(usageError(() => parseConfig(Modes, { mode: 'a', onlyB: true }, MODE_FLAGS)).message).toBe('--only-b is not an option of this command');
  });

  it('turns any other failure into one line naming the flag', () => {
    const e = usageError(() => parseConfig(Modes, { mode: 'a', size: 0 }, MODE_FLAGS, owner));
    expect(e.message).toMatch(/^invalid option --size: \S/);
    expect(e.message).toBe(`invalid option --size: ${A.shape.size.safeParse(0).error!.issues[0].message}`);
    expect(usageError(() => parseConfig(Schema, { out: 'o' }, FLAGS)).message).toMatch(/^invalid option --name: /);
    expect(usageError(() => parseConfig(Schema, { name: 'n', out: 'o', tags: ['a', 3] }, FLAGS)).message).toMatch(/^invalid option --tag \(at 1\): /);
  });

  it('names both flags of an issue whose params say they exclude each other', () => {
    const Both = z.strictObject({ size: z.number().optional(), mode: z.string().optional() }).superRefine((v, ctx) => {
      if (v.size !== undefined && v.mode !== undefined) ctx.addIssue({ code: 'custom', path: ['size'], message: 'excludes mode', params: { excludes: 'mode' } });
    });
    expect(usageError(() => parseConfig(Both, { size: 1, mode: 'a' }, MODE_FLAGS)).message).toBe('--size and --mode exclude each other (give one of them)');
  });
});

/** A command's options, from its --help: schema key → the default text after the last `default: `, if any. */
function helpDefaults(help: string): Map<string, string | undefined> {
  const entries: string[] = [];
  for (const line of help.slice(help.indexOf('\nOptions:\n')).split('\n').slice(2)) {
    if (/^ {2}-/.test(line)) entries.push(line.trim());
    else if (/^ {3,}\S/.test(line) && entries.length > 0) entries[entries.length - 1] += ` ${line.trim()}`;
  }
  const out = new Map<string, string | undefined>();
  for (const entry of entries) {
    const long = /--([a-z][\w-]*)/.exec(entry)![1];
    if (long === 'help') continue;
    const key = (ALIASES[long] ?? long.replace(/^no-/, '')).replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
    const at = entry.lastIndexOf('default: ');
    // A JSON string as commander prints it, or words up to the parenthesis that closes them.
    out.set(key, at < 0 ? undefined : /^("(?:[^"\\]|\\.)*"|[^)]*)/.exec(entry.slice(at + 'default: '.length))![1]);
  }
  return out;
}

/** Long flags not spelled after their schema key. */
const ALIASES: Record<string, string> = { 'exclude-set': 'excludeSets' };

const asJson = (text: string | undefined): { value: unknown } | null => {
  if (text === undefined) return null;
  try {
    return { value: JSON.parse(text) };
  } catch {
    return null;
  }
};

describe('meap --help shows the defaults the schemas hold', () => {
  const pretrain = PrepareConfigSchema.parse({ inputs: ['in'], out: 'o', tokenizer: 't' }) as Record<string, unknown>;
  const sft = PrepareConfigSchema.parse({ inputs: ['in'], out: 'o', tokenizer: 't', mode: 'sft' }) as Record<string, unknown>;
  const span = PrepareConfigSchema.parse({ inputs: ['in'], out: 'o', tokenizer: 't', mask: 'span' }) as Record<string, unknown>;

  /**
   * Defaults `--help` explains in words rather than as a value (computed at run time, per mode, or
   * by `--no-x`): each must still state the schema's value.
   */
  const inWords: Record<string, (text: string, schemaDefault: unknown) => void> = {
    workers: (text, d) => expect(text).toBe(`the core count, ${d} here`),
    maskRatio: (text) => {
      const m = /^([\d.]+) pretrain, ([\d.]+) sft$/.exec(text);
      expect(m, text).not.toBeNull();
      expect([Number(m![1]), Number(m![2])]).toEqual([pretrain.maskRatio, sft.maskRatio]);
    },
    spanLength: (text) => expect(text).toBe(`${span.spanLength} with --mask span`),
    bos: (text, d) => {
      expect(d).toBe(true);
      expect(text).toMatch(/^BOS on\b/);
    },
    eos: (text, d) => {
      expect(d).toBe(true);
      expect(text).toMatch(/^EOS on\b/);
    },
    // Lists written as the flag takes them.
    lengths: (text, d) => expect(text).toBe((d as number[]).join(',')),
    depths: (text, d) => {
      expect(text).toBe('0,10,...,100');
      expect(d).toEqual(Array.from({ length: 11 }, (_, i) => 10 * i));
    },
    // No --include means every file.
    include: (text, d) => {
      expect(d).toEqual([]);
      expect(text).toBe('all files');
    },
  };

  const commands: { name: string; keys: string[]; required: string[]; defaults: (key: string) => unknown }[] = [
    {
      name: 'prepare',
      keys: [...new Set([...Object.keys(PretrainOptionsSchema.shape), ...Object.keys(SftOptionsSchema.shape)])].filter((k) => k !== 'inputs'),
      required: ['out', 'tokenizer'],
      defaults: (key) => (key === 'maskRatio' ? undefined : Object.hasOwn(PretrainOptionsSchema.shape, key) ? pretrain[key] : sft[key]),
    },
    {
      name: 'train',
      // AdamW's eps has no flag: the schema's value always applies.
      keys: Object.keys(TrainConfigSchema.shape).filter((k) => k !== 'eps'),
      required: ['data', 'out', 'steps'],
      defaults: (key) => (TrainConfigSchema.parse({ data: ['d'], out: 'o', steps: 1 }) as Record<string, unknown>)[key],
    },
    {
      name: 'eval',
      // Plain eval's options and --needle's: which of --data and --haystack is required depends on --needle.
      keys: [...new Set([...Object.keys(EvalConfigSchema.shape), ...Object.keys(NeedleConfigSchema.shape), 'needle'])],
      required: ['run', 'data', 'haystack'],
      defaults: (key) =>
        Object.hasOwn(EvalConfigSchema.shape, key)
          ? (EvalConfigSchema.parse({ run: 'r', data: ['d'] }) as Record<string, unknown>)[key]
          : (NeedleConfigSchema.parse({ run: 'r', haystack: ['h'] }) as Record<string, unknown>)[key],
    },
    {
      name: 'order',
      keys: Object.keys(OrderConfigSchema.shape),
      required: ['data'],
      defaults: (key) => (OrderConfigSchema.parse({ data: ['d'] }) as Record<string, unknown>)[key],
    },
    {
      name: 'download',
      keys: Object.keys(DownloadConfigSchema.shape).filter((k) => k !== 'repoId'),
      required: [],
      defaults: (key) => (DownloadConfigSchema.parse({ repoId: 'org/name' }) as Record<string, unknown>)[key],
    },
    {
      name: 'inspect',
      keys: Object.keys(InspectConfigSchema.shape).filter((k) => k !== 'dir'),
      required: [],
      defaults: (key) => (InspectConfigSchema.parse({ dir: 'd' }) as Record<string, unknown>)[key],
    },
  ];

  const helps = new Map<string, string>();
  beforeAll(async () => {
    // Each is a process start: run them side by side.
    const runs = await Promise.all(commands.map((c) => meapAsync([c.name, '--help'])));
    runs.forEach((r, i) => {
      expect(r.code, r.stderr).toBe(0);
      helps.set(commands[i].name, r.stdout);
    });
  });

  for (const c of commands) {
    it(`meap ${c.name} --help`, () => {
      const shown = helpDefaults(helps.get(c.name)!);
      expect([...shown.keys()].sort()).toEqual([...c.keys].sort());
      for (const key of c.keys) {
        const text = shown.get(key);
        const schemaDefault = c.defaults(key);
        const json = asJson(text);
        if (c.required.includes(key)) expect(text, key).toBeUndefined();
        else if (key in inWords) inWords[key](text!, schemaDefault);
        else if (schemaDefault === undefined) expect(json, `${key}: (default: ${text}) is a value the schema does not apply`).toBeNull();
        else {
          expect(json, `${key}: (default: ${text})`).not.toBeNull();
          expect(json!.value, key).toEqual(schemaDefault);
        }
      }
    });
  }
});

describe('meap prepare refuses an option of the other --mode, or one its --mask ignores', () => {
  // Each is a process start: run them side by side.
  it.concurrent.for([
    [['--span-length', '50'], '--span-length applies to --mask span only (drop it, or pass --mask span)'],
    [['--mask', 'random', '--span-length', '50'], '--span-length applies to --mask span only (drop it, or pass --mask span)'],
    [['--mask', 'none', '--span-length', '5'], '--span-length applies to --mask span only (drop it, or pass --mask span)'],
    [['--mask', 'none', '--mask-ratio', '0.3'], '--mask-ratio applies to --mask random or span only (drop it, or pass --mask random)'],
    [['--mask', 'none', '--seed', '7'], '--seed applies to --mask random or span only (drop it, or pass --mask random)'],
    [['--mode', 'sft', '--span-length', '5'], '--span-length applies to --mode pretrain only (drop it, or pass --mode pretrain)'],
    [['--mode', 'sft', '--exclude-set', 'x'], '--exclude-set applies to --mode pretrain only (drop it, or pass --mode pretrain)'],
    [['--min-answer-tokens', '3'], '--min-answer-tokens applies to --mode sft only (drop it, or pass --mode sft)'],
    [['--sft-layout', 'separate'], '--sft-layout applies to --mode sft only (drop it, or pass --mode sft)'],
    [['--pack'], '--pack applies to --mode sft only (drop it, or pass --mode sft)'],
    [['--template', 'alpaca'], '--template applies to --mode sft only (drop it, or pass --mode sft)'],
    [['--mode', 'sft', '--mask', 'span'], '--mask applies to --mode pretrain only (drop it, or pass --mode pretrain)'],
    [['--mode', 'sft', '--text-field', 'x'], '--text-field applies to --mode pretrain only (drop it, or pass --mode pretrain)'],
  ] as const)('%j: exit 2, one line, nothing written', async ([extra, message], { expect }) => {
    const out = path.join(tempDir(), 'out');
    const r = await meapAsync(['prepare', slimpajama('chunk_0.jsonl'), '--out', out, '--tokenizer', llama2, '--progress', 'none', ...extra]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`meap: error: ${message}\n`);
    expect(fs.existsSync(out)).toBe(false);
  });
});
