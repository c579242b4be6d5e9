// How much of a pretrained backbone a run trains, said the same in the studio and the CLI; and
// the one threshold the plan and the training share (whether the head alone is good enough).

import type { FineTuneConfig, FineTuneMode } from './types';

/**
 * After its warm-up, a head alone at or above this validation accuracy keeps the backbone frozen:
 * the pretrained features already separate the images, and fine-tuning would cost time for next
 * to nothing (and risk fitting noise).
 */
export const HEAD_ENOUGH = 0.97;

/** The Advanced control's names of the modes. */
export const FINE_TUNE_TITLES: Record<FineTuneMode, string> = { head: 'Head only', blocks: 'Last blocks', all: 'Whole backbone' };

/** "the last 2 blocks", "the whole backbone", "the head only". */
export function fineTunePart(ft: Pick<FineTuneConfig, 'mode' | 'blocks'>): string {
  if (ft.mode === 'all') return 'the whole backbone';
  if (ft.mode === 'head') return 'the head only';
  return ft.blocks === 1 ? 'the last block' : `the last ${ft.blocks} blocks`;
}
