/**
 * The layering of meap, checked by `npm test` (see docs/layout.md):
 *
 *   cli → pipeline, trainer → datasets → schemas → core
 *
 * A layer imports only layers to its right; nothing imports cli; there are no import circles. The
 * trainer reads shards through datasets/shards/read.ts (and its codec's types) alone, never the
 * pipeline.
 */
const LAYERS = ['cli', 'pipeline', 'trainer', 'datasets', 'schemas', 'core'];
const below = {
  cli: ['pipeline', 'trainer', 'datasets', 'schemas', 'core'],
  pipeline: ['datasets', 'schemas', 'core'],
  trainer: ['datasets', 'schemas', 'core'],
  datasets: ['schemas', 'core'],
  schemas: ['core'],
  core: [],
};

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import circles make a layer impossible to read or test on its own.',
      from: {},
      to: { circular: true },
    },
    ...LAYERS.map((layer) => ({
      name: `layer-${layer}`,
      severity: 'error',
      comment: `${layer}/ may import only ${below[layer].join(', ') || 'nothing of ours'}.`,
      from: { path: `^${layer}/` },
      to: { path: `^(${['bin', ...LAYERS.filter((l) => l !== layer && !below[layer].includes(l))].join('|')})/` },
    })),
    {
      name: 'trainer-reads-shards-through-one-reader',
      severity: 'error',
      comment: 'The trainer consumes shards exactly as prepare writes them, through the one shard reader.',
      from: { path: '^trainer/' },
      to: { path: '^datasets/', pathNot: '^datasets/shards/(read|codec)\\.ts$' },
    },
    {
      name: 'bin-starts-cli-only',
      severity: 'error',
      comment: 'bin/ only starts cli/main.ts, from the bundle that core/stamps.js (plain JavaScript) says is fresh.',
      from: { path: '^bin/' },
      to: { path: `^(${LAYERS.filter((l) => l !== 'cli').join('|')})/`, pathNot: '^core/stamps\\.js$' },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      comment: 'An import that resolves to nothing fails at run time.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'node', 'default'] },
    exclude: { path: '^(node_modules|test|bench)/' },
  },
};
