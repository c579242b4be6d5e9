// A project's features extracted ahead of a run, as a background job while labeling goes on:
// the images a run would use, through the same preparation the run itself does (flipped copies of
// training images where the plan asks), so the run finds them cached.

import type { TrainConfig } from '../../../shared/types';
import type { Project } from '../../store/project';
import { liveImageFiles } from './records';
import { prepareFeatures } from './transfer';

/** Every live image's features for the backbone a run would use (flipped copies of training images too where it would). */
export async function extractProjectFeatures(
  project: Project,
  config: TrainConfig,
  options: { signal?: AbortSignal; onProgress?: (done: number, total: number, phase: string) => void } = {},
): Promise<{ images: number; failed: number; seconds: number }> {
  const started = performance.now();
  const rows = liveImageFiles(project.db);
  const items = rows.map((r) => ({ hash: r.hash, ext: r.ext, split: r.labeled ? r.split : 'unlabeled' }));
  const prepared = await prepareFeatures(project, config, items, options);
  const pack = prepared.pack;
  return { images: rows.length - pack.failed.size, failed: pack.failed.size, seconds: (performance.now() - started) / 1000 };
}
