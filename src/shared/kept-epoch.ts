// How a run's kept epoch is said, the same in the studio and the CLI.

import type { KeptEpoch } from './types';

/** "last epoch (40) — fewer than 1,000 validation images", "epoch 14 — the best validation accuracy". */
export function keptText(kept: KeptEpoch): string {
  return `${kept.rule === 'last' ? `last epoch (${kept.epoch})` : `epoch ${kept.epoch}`} — ${kept.why}`;
}
