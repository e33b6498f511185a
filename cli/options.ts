/**
 * Commander options built from the zod schemas: a default, a range or a list of choices lives in the
 * schema alone, and `--help`, the argument checks and the config all read it from there. What the CLI
 * adds is presentation: the flag's spelling, its value's name and its help text.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { z } from 'zod';
import { MeapError } from '../core/errors.ts';

export interface Flag {
  /** Commander's spelling, e.g. '-o, --out <dir>', '--no-bos', '--pack'. */
  flags: string;
  help: string;
  /** Shown as the default in `--help` in place of the schema's value (for a default computed at run time). */
  defaultHelp?: string;
  /** Leave the default out of `--help` (the help text explains it). */
  hideDefault?: boolean;
  /** A default of this command alone, not of the config (`demo --out`). */
  default?: unknown;
}

/** Schema keys → flags; the order is the order of `--help`. */
export type Flags = Record<string, Flag>;

interface FieldInfo {
  base: z.ZodType;
  defaultValue?: unknown;
  required: boolean;
}

/** Peels `.default()` and `.optional()` off a field. */
function inspectField(field: z.ZodType): FieldInfo {
  let base = field;
  let defaultValue: unknown;
  let required = true;
  for (;;) {
    if (base instanceof z.ZodDefault) {
      defaultValue = base.def.defaultValue;
      required = false;
      base = base.unwrap() as z.ZodType;
    } else if (base instanceof z.ZodOptional) {
      required = false;
      base = base.unwrap() as z.ZodType;
    } else return { base, defaultValue, required };
  }
}

function wholeNumber(flag: string, min: number) {
  return (v: string) => {
    if (!/^\d+$/.test(v.trim()) || Number(v) < min || !Number.isSafeInteger(Number(v))) {
      throw new InvalidArgumentError(`${flag} must be a whole number ≥ ${min}.`);
    }
    return Number(v);
  };
}

function nonNegative(flag: string) {
  return (v: string) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${flag} must be a number ≥ 0.`);
    return n;
  };
}

function fraction(v: string) {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('must be a number from 0 to 1.');
  return n;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** The commander option for one schema field. */
export function optionFor(field: z.ZodType, flag: Flag): Option {
  const { base, defaultValue, required } = inspectField(field);
  const option = new Option(flag.flags, flag.help);
  const name = option.long ?? option.flags;
  if (base instanceof z.ZodEnum) option.choices(base.options.map(String));
  else if (base instanceof z.ZodNumber) {
    if (base.isInt) option.argParser(wholeNumber(name, base.minValue ?? 0));
    else if (base.minValue === 0 && base.maxValue === 1) option.argParser(fraction);
    else option.argParser(nonNegative(name));
  } else if (base instanceof z.ZodArray) option.argParser(collect);
  const shown = flag.default ?? defaultValue;
  if (option.negate) {
    // `--no-x` already defaults x to true.
  } else if (flag.defaultHelp !== undefined) option.default(shown, flag.defaultHelp);
  else if (!flag.hideDefault && shown !== undefined) option.default(shown);
  if (required && flag.default === undefined && !(base instanceof z.ZodBoolean)) option.makeOptionMandatory();
  return option;
}

/** Adds `flags` to `cmd`, each from its field in `fields`. */
export function addOptions(cmd: Command, fields: Record<string, z.ZodType>, flags: Flags): Command {
  for (const [key, flag] of Object.entries(flags)) {
    const field = fields[key];
    if (field === undefined) throw new Error(`no schema field for option ${key}`);
    cmd.addOption(optionFor(field, flag));
  }
  return cmd;
}

/**
 * The options the user gave, under their schema keys: the schema, not commander, fills in the
 * defaults, so an option that was not given is not passed on (and a strict schema can refuse an
 * option that the chosen mode does not read). A command's own defaults (`Flag.default`) are passed.
 */
export function givenOptions(cmd: Command, flags: Flags): Record<string, unknown> {
  const opts = cmd.opts();
  const out: Record<string, unknown> = {};
  for (const [key, flag] of Object.entries(flags)) {
    const attr = new Option(flag.flags).attributeName();
    const source = cmd.getOptionValueSource(attr);
    if (source === 'cli' || source === 'env' || (source === 'default' && flag.default !== undefined)) out[key] = opts[attr];
  }
  return out;
}

/** The flag of a schema key, as the user typed it: for messages. */
export function flagOf(flags: Flags, key: string): string {
  const flag = flags[key];
  return flag === undefined ? key : (new Option(flag.flags).long ?? key);
}

/**
 * Parses a command's config; a failure names the option as the user typed it, as one line. `ownerOf`
 * names the mode that reads a key, for a strict mode-union's refusal of an option the chosen mode does
 * not read; an issue's `params.onlyWith` names what makes an option count, `params.excludes` the
 * option it cannot go with.
 */
export function parseConfig<S extends z.ZodType>(schema: S, input: unknown, flags: Flags, ownerOf?: (key: string) => string | undefined): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0];
    const owner = ownerOf?.(key);
    const flag = flagOf(flags, key);
    if (owner !== undefined) throw new MeapError('usage', `${flag} applies to --mode ${owner} only`, {}, `drop it, or pass --mode ${owner}`);
    throw new MeapError('usage', `${flag} is not an option of this command`);
  }
  const onlyWith = issue.code === 'custom' ? (issue.params?.onlyWith as { key: string; values: string[] } | undefined) : undefined;
  if (onlyWith !== undefined) {
    const other = flagOf(flags, onlyWith.key);
    throw new MeapError('usage', `${flagOf(flags, String(issue.path[0]))} applies to ${other} ${onlyWith.values.join(' or ')} only`, {}, `drop it, or pass ${other} ${onlyWith.values[0]}`);
  }
  const excludes = issue.code === 'custom' ? (issue.params?.excludes as string | undefined) : undefined;
  if (excludes !== undefined) {
    throw new MeapError('usage', `${flagOf(flags, String(issue.path[0]))} and ${flagOf(flags, excludes)} exclude each other`, {}, 'give one of them');
  }
  const [key, ...within] = issue.path.map(String);
  const at = key === undefined ? 'options' : `option ${flagOf(flags, key)}${within.length > 0 ? ` (at ${within.join('.')})` : ''}`;
  throw new MeapError('usage', `invalid ${at}: ${issue.message}`);
}

/** A field's default, for help texts that must mention it. */
export function defaultOf(field: z.ZodType): unknown {
  return inspectField(field).defaultValue;
}
