/**
 * `mkdir -p` that fails with the OS's own reason. Node's `mkdir(…, { recursive: true })` reports a
 * read-only file system (a container's read-only root, where HOME often lies) as ENOENT, and loops
 * forever under /proc; here each missing directory is made on its own, parents first, so the
 * error is the one mkdir(2) gave (EROFS, EACCES, …) and names the directory it could not make.
 *
 * Covered by test/core/make-dir.test.ts, and EROFS (a read-only bind mount, where the tests run
 * as root) by test/e2e/clear-errors.test.ts.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

export async function makeDir(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && (await fs.stat(dir)).isDirectory()) return;
    if (code !== 'ENOENT' || path.dirname(dir) === dir) throw e;
    await makeDir(path.dirname(dir));
    // Another process may make it in between.
    await fs.mkdir(dir).catch(async (again: NodeJS.ErrnoException) => {
      if (again.code !== 'EEXIST' || !(await fs.stat(dir)).isDirectory()) throw again;
    });
  }
}
