// Words the window uses in several places. Figures (percentages, counts, durations) are
// written by src/shared/format.ts.

/** What a model-written label's mark says: who wrote it, and that scores count it apart. */
export const MODEL_SOURCE_TITLE: Record<'suggestion' | 'check', string> = {
  suggestion: 'Label written by a model (an accepted suggestion): scores are also shown without it',
  check: 'Label written by a model (an accepted label-check finding): scores are also shown without it',
};

/** Who gave a label, for image details. */
export const LABEL_SOURCE_TEXT: Record<'user' | 'import' | 'suggestion' | 'check', string> = {
  user: 'by you',
  import: 'by the import',
  suggestion: 'by a model (accepted suggestion)',
  check: 'by a model (accepted label-check finding)',
};
