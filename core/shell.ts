/**
 * Command lines that a user can paste back into a POSIX shell: `train`'s --resume command, and the
 * command that finishes an unfinished `prepare`. Covered by test/core/shell.test.ts.
 */

/** An argument as is where a shell leaves it alone, else in single quotes. */
export const shellQuote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`);

/** `meap ARGS`, run from `cwd` where that is not the directory the user is in now. */
export function meapCommand(args: string[], cwd = process.cwd()): string {
  const line = ['meap', ...args].map(shellQuote).join(' ');
  return cwd === process.cwd() ? line : `cd ${shellQuote(cwd)} && ${line}`;
}
