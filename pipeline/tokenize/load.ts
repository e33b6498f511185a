/**
 * Loading a Hugging Face tokenizer.json: its vocabulary, its special ids (see specials.ts), and the
 * copy of it that documents are encoded with.
 *
 * Documents are always encoded as plain text: the pipeline, never the text, decides where special
 * ids go. Both engines would otherwise cut `<s>`, `</s>`, `<|endoftext|>` ... out of raw text even
 * with special tokens switched off, so documents are encoded with `plainJson`, a copy of
 * tokenizer.json without the special added tokens and without its post-processor. `<s>` in a
 * document then becomes ordinary pieces, as SentencePiece itself does.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readNamedFile, tokenizerError } from '../../core/errors.ts';
import { isRecord, type JsonObject } from '../../core/is-record.ts';
import { TOKENIZER_FILE } from '../../schemas/hf-files.ts';
import { resolveSpecials, type AddedToken, type SpecialIds, type SpecialOverrides } from './specials.ts';

/**
 * What packing, masking and templates need of a tokenizer: its ids, without its JSON. A unit worker
 * gets only this (and the bpe engine's shared tables), not megabytes of JSON per thread.
 */
export interface TokenizerInfo {
  /** The tokenizer.json read: as given, or inside the folder given. */
  path: string;
  /** Of the tokenizer.json bytes on disk. */
  sha256: string;
  specials: SpecialIds;
  /** Ids of all special added tokens, plus bos/eos/mask. */
  specialIds: ReadonlySet<number>;
  /** content → id of the special added tokens: the only strings a tokenizer emits as one id whatever surrounds them. */
  specialTokens: ReadonlyMap<string, number>;
}

export interface LoadedTokenizer extends TokenizerInfo {
  /** tokenizer.json with special added tokens and post_processor removed: what documents are encoded with. */
  plainJson: string;
  /** The original, for decoding with special tokens shown. */
  fullJson: string;
}

export async function loadTokenizer(
  given: string,
  overrides: SpecialOverrides = {},
): Promise<LoadedTokenizer> {
  // A model folder, as on the hub: its tokenizer.json, with the config files beside it.
  const isDir = await stat(given).then((st) => st.isDirectory(), () => false);
  const path = isDir ? join(given, TOKENIZER_FILE) : given;
  const bytes = await readNamedFile(path, (reason) => tokenizerError(`tokenizer file ${reason}`, path, 'pass --tokenizer the path of a Hugging Face tokenizer.json or of a folder holding one'));
  const fullJson = bytes.toString('utf8');
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  let doc: unknown;
  try {
    doc = JSON.parse(fullJson);
  } catch (e) {
    throw tokenizerError(`tokenizer file is not valid JSON (${(e as Error).message})`, path, 'pass a Hugging Face tokenizer.json');
  }
  const unsupported = (why: string) =>
    tokenizerError(`unsupported tokenizer.json: ${why}`, path, 'meap reads the Hugging Face `tokenizers` format (tokenizer.json with a BPE, WordPiece, WordLevel or Unigram model)');
  if (!isRecord(doc)) throw unsupported('the top level is not an object');
  const model = doc.model;
  if (!isRecord(model)) throw unsupported('no "model" object');

  // --- vocabulary: token -> id, and the size the embedding must have ---
  const vocab = new Map<string, number>();
  let maxId = -1;
  const addVocab = (token: string, id: number) => {
    if (!vocab.has(token)) vocab.set(token, id);
    if (id > maxId) maxId = id;
  };
  const modelType = model.type ?? (Array.isArray(model.vocab) ? 'Unigram' : undefined);
  if (modelType === 'BPE' || modelType === 'WordPiece' || modelType === 'WordLevel' || (modelType === undefined && isRecord(model.vocab))) {
    if (!isRecord(model.vocab)) throw unsupported(`the ${String(modelType ?? 'model')} vocab is not an object`);
    for (const [token, id] of Object.entries(model.vocab)) {
      if (!Number.isInteger(id) || (id as number) < 0) throw unsupported(`vocab entry ${JSON.stringify(token)} has no valid id`);
      addVocab(token, id as number);
    }
  } else if (modelType === 'Unigram') {
    if (!Array.isArray(model.vocab)) throw unsupported('the Unigram vocab is not an array');
    model.vocab.forEach((entry, id) => {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string') throw unsupported(`Unigram vocab entry ${id} is not [piece, score]`);
      addVocab(entry[0], id);
    });
  } else {
    throw unsupported(`model type ${JSON.stringify(model.type)}`);
  }

  const rawAdded = doc.added_tokens ?? [];
  if (!Array.isArray(rawAdded)) throw unsupported('"added_tokens" is not an array');
  const added: AddedToken[] = rawAdded.map((t, i) => {
    if (!isRecord(t) || typeof t.content !== 'string' || !Number.isInteger(t.id) || (t.id as number) < 0) {
      throw unsupported(`added_tokens[${i}] has no content or id`);
    }
    return t as unknown as AddedToken;
  });
  // Added tokens win over model pieces of the same text: that is what the tokenizer itself emits.
  for (const t of added) {
    vocab.set(t.content, t.id);
    if (t.id > maxId) maxId = t.id;
  }
  if (maxId < 0) throw unsupported('the vocabulary is empty');
  const vocabSize = maxId + 1;
  const { bosId, eosId, maskTokenId } = await resolveSpecials({ path, doc, vocab, added, vocabSize }, overrides);

  const specialIds = new Set<number>();
  for (const t of added) if (t.special) specialIds.add(t.id);
  if (bosId !== null) specialIds.add(bosId);
  if (eosId !== null) specialIds.add(eosId);
  specialIds.add(maskTokenId);

  // A non-special [MASK] added token goes too: documents must never be able to produce the mask id.
  const plain: JsonObject = {
    ...doc,
    added_tokens: added.filter((t) => !t.special && !specialIds.has(t.id)),
    post_processor: null,
  };

  return {
    path,
    sha256,
    specials: { bosId, eosId, maskTokenId, vocabSize },
    specialIds,
    specialTokens: new Map(added.filter((t) => t.special === true).map((t) => [t.content, t.id])),
    plainJson: JSON.stringify(plain),
    fullJson,
  };
}
