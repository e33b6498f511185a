/** `npx tsx test/interop/to_version_1.ts DIR`: a finished directory rewritten as meap's version 1 wrote it, for test_datasets.py. */
import { toVersion1 } from '../helpers/v1.ts';

toVersion1(process.argv[2]);
