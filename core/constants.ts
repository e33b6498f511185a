/**
 * The label that means "no loss here", as PyTorch's cross-entropy and every Hugging Face trainer read it.
 * Covered by test/pipeline/sft.test.ts, which checks the labels that carry it.
 */
export const IGNORE_INDEX = -100;
