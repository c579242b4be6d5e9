// Which epoch's weights a run keeps as its model, and why, in one place: the transfer plan
// decides by it and a run's record says it, so the two cannot disagree.

import type { KeptEpoch, TrainConfig } from '../../../shared/types';

/** With fewer validation images than this, the head's best epoch is noise: the last one is kept. */
export const BEST_EPOCH_MIN_VAL = 1000;

/** The epoch whose weights a finished run saves as its model: the best one with restoreBest, else the last one trained. */
export function keptEpochNumber(restoreBest: boolean, bestEpoch: number | null, epochsRun: number): number {
  return restoreBest && bestEpoch !== null ? bestEpoch : epochsRun;
}

/**
 * Which epoch a run's model holds and why: the rule the replica applied (restoreBest: the best
 * epoch, else the last), and what made the plan choose it.
 */
export function keptEpochOf(config: TrainConfig, validationImages: number, epoch: number | null): KeptEpoch | null {
  if (epoch === null) return null;
  const transfer = Boolean(config.backbone);
  if (config.restoreBest) {
    if (validationImages === 0) return { epoch, rule: 'best', why: 'the best training accuracy (no validation images)' };
    const chosen = transfer && validationImages < BEST_EPOCH_MIN_VAL ? ' (Advanced settings)' : '';
    return { epoch, rule: 'best', why: `the best validation accuracy${chosen}` };
  }
  if (transfer && validationImages < BEST_EPOCH_MIN_VAL) {
    return { epoch, rule: 'last', why: `fewer than ${BEST_EPOCH_MIN_VAL.toLocaleString('en-US')} validation images (${validationImages.toLocaleString('en-US')}), too few to pick a better one` };
  }
  return { epoch, rule: 'last', why: 'chosen in Advanced settings' };
}

