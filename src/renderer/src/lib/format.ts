/** A duration for people: "42 s", "3 min 5 s", "1 h 20 min". */
export function duration(seconds: number): string {
  const t = Math.max(0, Math.round(seconds));
  if (t >= 3600) return `${Math.floor(t / 3600)} h ${Math.floor((t % 3600) / 60)} min`;
  if (t >= 60) return `${Math.floor(t / 60)} min ${t % 60} s`;
  return `${t} s`;
}

export const num = (n: number): string => n.toLocaleString();

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
