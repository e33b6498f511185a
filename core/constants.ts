/** The label that means "no loss here", as PyTorch's cross-entropy and every Hugging Face trainer read it. */
export const IGNORE_INDEX = -100;
