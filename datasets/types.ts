/**
 * The shapes that flow out of datasets/: input files, the raw records read from them, and SFT examples.
 * Types only, with no code to run, so no test file of its own: every reader and mapper test
 * (test/datasets/jsonl, json, parquet, records, alpaca, sharegpt, slimpajama) exercises them.
 */
import type { InputError, Location } from '../core/errors.ts';
import type { InputFormat } from '../schemas/enums.ts';

export interface InputFile {
  abs: string;
  /** The path as the user knows it: relative to the inputs' common directory, or a pinned hf:// URI. */
  rel: string;
  format: InputFormat;
  size: number;
}

/**
 * Why a file that a directory or glob (or the output directory's place among the inputs) put in
 * reach is not read: for the run's one line about them, and for listing them before a run.
 */
export type SkipReason = 'noInputExtension' | 'insideOutput';

export interface SkippedFile {
  /** Absolute for a local file; the pinned hf:// URI for a hub file. */
  file: string;
  size: number;
  reason: SkipReason;
}

export type RawItem =
  | { kind: 'record'; value: unknown; where: Location }
  | { kind: 'error'; error: InputError }; // a record-level problem; reading continues after it

export interface ReadOptions {
  /** Stop after this many items (records and error items; blank lines do not count). */
  limit?: number;
  /** Bytes taken from disk so far, in increments (compressed bytes for .zst and .gz). */
  onBytes?: (n: number) => void;
  /** Longest JSONL line, or JSON array element, accepted before the file is refused. */
  maxLineBytes?: number;
}

/** One instruction-following example, from an Alpaca record or one human→gpt turn of a ShareGPT record. */
export interface Example {
  instruction: string;
  input: string;
  answer: string;
  /** A ShareGPT record's system text; replaces the template's. */
  system?: string;
}

export interface ExampleOptions {
  /** Longest text field accepted, in characters (code points); longer is a 'tooLong' error. No limit if absent. */
  maxChars?: number;
}

export type ExamplesResult =
  // emptyAnswers: turns/records whose answer is "" (always skipped and counted by the caller)
  | { kind: 'examples'; examples: Example[]; emptyAnswers: number }
  | { kind: 'skip'; error: InputError }; // a bad record; error.reason is the skip reason
