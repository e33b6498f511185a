/**
 * What the program hands each command.
 *
 * No unit test: test/e2e/hub-cli.test.ts runs the hub commands with HF_ENDPOINT, HF_TOKEN and
 * MEAP_CACHE set, and `meap verify`'s exit code 1 in test/e2e/prepare.test.ts goes through setExitCode.
 */
import type { HubOptions } from '../datasets/hub/http.ts';
import { downloadProgress } from './output.ts';

/** What every command gets from the program: the signal that SIGINT/SIGTERM abort, and its exit code. */
export interface CliContext {
  signal: AbortSignal;
  setExitCode(code: number): void;
  /** What to tell the user after SIGINT/SIGTERM: what was kept, and how to go on. */
  setInterruptNote(note: string): void;
}

/** Hub settings come from the environment (HF_ENDPOINT, HF_TOKEN, MEAP_CACHE), as Hugging Face's own tools do. */
export const hubOptions = (): HubOptions => ({ progress: downloadProgress(), log: (line) => process.stderr.write(`meap: ${line}\n`) });
