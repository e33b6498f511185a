import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeDir } from '../../core/make-dir.ts';
import { tempDir } from '../helpers/cli.ts';

describe('makeDir', () => {
  it('makes every missing directory, and accepts one that exists or that another caller makes at once', async () => {
    const root = tempDir('meap-mkdir-');
    const deep = path.join(root, 'a', 'b', 'c');
    await makeDir(deep);
    expect(fs.statSync(deep).isDirectory()).toBe(true);
    await makeDir(deep);
    await Promise.all(Array.from({ length: 8 }, () => makeDir(path.join(root, 'x', 'y'))));
    expect(fs.statSync(path.join(root, 'x', 'y')).isDirectory()).toBe(true);
  });

  it("fails with mkdir's own error", async () => {
    const file = path.join(tempDir('meap-mkdir-'), 'a-file');
    fs.writeFileSync(file, '');
    await expect(makeDir(path.join(file, 'sub', 'deeper'))).rejects.toMatchObject({ code: 'ENOTDIR', syscall: 'mkdir', path: path.join(file, 'sub', 'deeper') });
    await expect(makeDir(file)).rejects.toMatchObject({ code: 'EEXIST' });
  });

  // Node's recursive mkdir loops forever there.
  it.skipIf(!fs.existsSync('/proc/self'))('gives up under /proc instead of looping', async () => {
    await expect(makeDir('/proc/meap-make-dir-test/sub')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
