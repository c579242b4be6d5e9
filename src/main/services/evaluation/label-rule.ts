// Which given labels a model confidently contradicts, from out-of-sample probabilities.
// The rule follows confident learning (Northcutt, Jiang and Chuang, "Confident Learning:
// Estimating Uncertainty in Dataset Labels", JAIR 2021): class k's threshold t_k is the mean
// probability the model gives k on the images labeled k, so a class the model is generally
// unsure of needs less to count as "confidently k". An image labeled y is flagged when some
// other class k has p_k >= t_k, p_k >= MIN_CONFIDENCE and p_k > p_y; the suggested label is the
// most probable such k. The floor keeps a weak model (low thresholds) from flagging noise.
// Issues are ranked by the margin p_k - p_y, largest (most likely an error) first.

export const MIN_CONFIDENCE = 0.5;

/** t_k: mean p_k over the images labeled k; 1 (never reached) for a class with no images. */
export function perClassThresholds(probs: Float32Array, given: ArrayLike<number>, classes: number): number[] {
  const sum = new Array<number>(classes).fill(0);
  const count = new Array<number>(classes).fill(0);
  for (let i = 0; i < given.length; i++) {
    sum[given[i]] += probs[i * classes + given[i]];
    count[given[i]] += 1;
  }
  return sum.map((s, k) => (count[k] === 0 ? 1 : s / count[k]));
}

export interface Flagged {
  /** Index of the image in the input. */
  index: number;
  suggested: number;
  givenProbability: number;
  suggestedProbability: number;
}

export function flagLabelIssues(
  probs: Float32Array,
  given: ArrayLike<number>,
  classes: number,
  thresholds: number[] = perClassThresholds(probs, given, classes),
  minConfidence = MIN_CONFIDENCE,
): Flagged[] {
  const out: Flagged[] = [];
  for (let i = 0; i < given.length; i++) {
    const y = given[i];
    const py = probs[i * classes + y];
    let best = -1;
    for (let k = 0; k < classes; k++) {
      const pk = probs[i * classes + k];
      if (k === y || pk < thresholds[k] || pk < minConfidence || pk <= py) continue;
      if (best < 0 || pk > probs[i * classes + best]) best = k;
    }
    if (best >= 0) out.push({ index: i, suggested: best, givenProbability: py, suggestedProbability: probs[i * classes + best] });
  }
  return out.sort((a, b) => b.suggestedProbability - b.givenProbability - (a.suggestedProbability - a.givenProbability) || a.index - b.index);
}
