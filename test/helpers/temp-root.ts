import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll } from 'vitest';

// Every test file gets its own temporary root, removed after it: the suites make thousands of
// directories (and the CLI children they spawn make caches and work files beside them, since they
// inherit TMPDIR), and a full run once filled the disk with them.
const outer = process.env.MEAP_TEST_OUTER_TMPDIR ?? os.tmpdir();
process.env.MEAP_TEST_OUTER_TMPDIR = outer;
const root = fs.mkdtempSync(path.join(outer, 'meap-test-file-'));
// As /tmp itself: the tests that run the CLI as another user (nobody) need to write here too.
fs.chmodSync(root, 0o1777);
process.env.TMPDIR = root;

afterAll(() => {
  process.env.TMPDIR = outer;
  fs.rmSync(root, { recursive: true, force: true });
});
