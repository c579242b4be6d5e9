// The trained run the export tests share: a project of coloured patterns (16 px, 40 a class)
// with one cnn-small run, made once before a test file's tests and removed after them. It trains
// without flips, so its model is the plain graph these tests take apart layer by layer; a run
// that averages mirror images is exported in flip-average.test.ts.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import type { TrainOverrides } from '../../../src/shared/types';
import { runTraining } from '../../../src/main/services/training/train';
import { Project } from '../../../src/main/store/project';
import { onCleanup } from '../../helpers';
import { makePatternProject } from '../training/train-helpers';

export interface SharedRun {
  /** The project's folder. */
  readonly root: string;
  readonly runId: number;
  /** Opens the project for one test (closed after it). */
  open(): Project;
}

/** Six epochs: in four, without flips, this seed's model still gave every test image one class. */
const PLAIN: TrainOverrides = { epochs: 6, augmentation: { flip: false } };

/**
 * Registers the hooks that make and remove the shared run (in a temporary folder named from
 * `prefix`): the plain graph by default, or the run `overrides` make (one click's flips: `{}`).
 */
export function sharedPatternRun(prefix: string, overrides: TrainOverrides = PLAIN): SharedRun {
  let work = '';
  let root = '';
  let runId = 0;
  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    root = path.join(work, 'shapes.loupe');
    await makePatternProject(root, { perClass: 40, size: 16, seed: 4 });
    const project = Project.open(root);
    try {
      const result = await runTraining(project, { arch: 'cnn-small', epochs: 4, batchSize: 16, seed: 7, workers: 1, ...overrides });
      expect(result.status).toBe('completed');
      runId = result.runId;
    } finally {
      project.close();
    }
  }, 180_000);
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
  return {
    get root() {
      return root;
    },
    get runId() {
      return runId;
    },
    open() {
      const project = Project.open(root);
      onCleanup(() => project.close());
      return project;
    },
  };
}
