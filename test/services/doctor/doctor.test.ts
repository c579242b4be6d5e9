// The data doctor on images whose problems are known: each check finds its image and only it,
// leaks come first, a second check reads only new images, and a dismissed finding stays hidden
// until its images change.

import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { dismissDoctorFindings, doctorReport, DOCTOR_CHECKS, runDoctor } from '../../../src/main/services/doctor';
import { completedRun, scoredPredictions } from '../../../src/main/services/evaluation/evaluate';
import { runTraining } from '../../../src/main/services/training/train';
import type { DoctorReport } from '../../../src/shared/types';
import { importInto, put } from '../import/import-helpers';
import { knownProblems, png, scene } from './doctor-helpers';
import { tempDir } from '../../helpers';

const namesOf = (report: DoctorReport, check: string) =>
  report.findings
    .filter((f) => f.check === check)
    .flatMap((f) => f.images.map((i) => i.name))
    .sort();

describe('data doctor', () => {
  it('finds each known problem, and only it', async () => {
    const { project } = await knownProblems();
    const report = await runDoctor(project);
    expect(report.images).toBe(35);
    expect(report.decoded).toBe(35);
    expect(report.unreadable).toBe(0);
    expect(namesOf(report, 'blurry')).toEqual(['blurred.png']);
    expect(namesOf(report, 'tooDark')).toEqual(['black.png']);
    expect(namesOf(report, 'tooBright')).toEqual(['bright.png']);
    expect(namesOf(report, 'lowInformation')).toEqual(['black.png', 'red.png']);
    expect(namesOf(report, 'oddAspect')).toEqual(['wide.png']);
    expect(namesOf(report, 'oddSize')).toEqual([]);
    expect(namesOf(report, 'greyscale')).toEqual(['grey.png']);
    // The class with 3 images against cat's 19 (16 scenes, the blurred, grey and mirrored copies).
    const imbalance = report.findings.filter((f) => f.check === 'classImbalance');
    expect(imbalance.map((f) => f.images.map((i) => i.label))).toEqual([['rare', 'rare', 'rare']]);
    expect(imbalance[0].detail).toContain('“rare” has 3 labeled images');
    expect(report.checks.map((c) => c.check)).toEqual(DOCTOR_CHECKS);
    expect(report.checks.find((c) => c.check === 'blurry')?.count).toBe(1);
  });

  it('lists the mirrored copy across splits as a leak, before every other finding', async () => {
    const { project } = await knownProblems();
    const report = await runDoctor(project);
    const leaks = report.findings.filter((f) => f.crossSplit);
    expect(leaks).toHaveLength(1);
    expect(report.findings[0]).toBe(leaks[0]);
    expect(leaks[0].check).toBe('nearDuplicate');
    expect(leaks[0].images.map((i) => [i.name, i.split, i.label]).sort()).toEqual([
      ['mirror.png', 'test', 'cat'],
      ['scene5.png', 'train', 'cat'],
    ]);
    // The blurred copy of scene 3 is a near-duplicate within train: listed, not as a leak.
    const within = report.findings.filter((f) => f.check === 'nearDuplicate' && !f.crossSplit);
    expect(within.map((f) => f.images.map((i) => i.name).sort())).toEqual([['blurred.png', 'scene3.png']]);
    // Worst first after the leaks.
    const scores = report.findings.slice(1).map((f) => f.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
  });

  it('says what the leak does to the best run’s test score, until the leak is dismissed', async () => {
    const { project } = await knownProblems();
    expect((await runDoctor(project)).leakEffect).toBeNull();
    const more = tempDir('loupe-doctor-more-');
    for (let i = 0; i < 3; i++) put(more, `test/dog/extra${i}.png`, await png(scene(300 + i)));
    await importInto(project, [more]);
    const { runId } = await runTraining(project, { arch: 'mlp', width: 8, height: 8, epochs: 2, seed: 1, patience: null });
    const report = await runDoctor(project);
    const effect = report.leakEffect!;
    // The run scores its test images of the classes it trained on: mirror.png (whose original,
    // scene5, it trained on) and the 3 extra dogs ("rare" has no training images).
    const scored = scoredPredictions(project.db, completedRun(project.db, runId), 'test').images;
    const mirrorId = report.findings[0].images.find((i) => i.name === 'mirror.png')!.id;
    expect(scored).toHaveLength(4);
    expect(scored.map((im) => im.imageId)).toContain(mirrorId);
    const accuracy = (list: typeof scored) => (list.length ? list.filter((im) => im.predicted === im.truth).length / list.length : null);
    const others = scored.filter((im) => im.imageId !== mirrorId);
    expect(effect).toEqual({
      runId,
      images: scored.length,
      accuracy: accuracy(scored),
      leaked: 1,
      leakedAccuracy: accuracy(scored.filter((im) => im.imageId === mirrorId)),
      withoutLeaks: accuracy(others),
    });
    expect(dismissDoctorFindings(project, [report.findings[0].key])?.leakEffect).toMatchObject({ leaked: 0, leakedAccuracy: null });
  }, 60_000);

  it('says what it checks without a backbone, and what needs one', async () => {
    const { project } = await knownProblems();
    const report = await runDoctor(project);
    expect(report.backbone).toBeNull();
    expect(report.withFeatures).toBe(0);
    expect(report.scope.withoutBackbone).toMatch(/perceptual hash.*blur.*exposure/);
    expect(report.scope.needsBackbone).toMatch(/Cropped copies need a backbone’s features.*outliers/);
  });

  it('reads only images added since the last check, and keeps the report', async () => {
    const { project } = await knownProblems();
    await runDoctor(project);
    const again = await runDoctor(project);
    expect(again.decoded).toBe(0);
    expect(namesOf(again, 'blurry')).toEqual(['blurred.png']);
    const more = tempDir('loupe-doctor-more-');
    put(more, 'val/dog/new.png', await png(scene(200)));
    await importInto(project, [more]);
    const third = await runDoctor(project);
    expect(third.decoded).toBe(1);
    expect(third.images).toBe(36);
    expect(doctorReport(project)).toEqual(third);
  });

  it('hides a dismissed finding until its images change', async () => {
    const { project } = await knownProblems();
    const first = await runDoctor(project);
    const leak = first.findings[0];
    const blur = first.findings.find((f) => f.check === 'blurry')!;
    const shown = dismissDoctorFindings(project, [leak.key, blur.key])!;
    expect(shown.findings.map((f) => f.key)).not.toContain(leak.key);
    expect(shown.dismissed).toBe(2);
    const again = await runDoctor(project);
    expect(again.findings.some((f) => f.crossSplit)).toBe(false);
    expect(namesOf(again, 'blurry')).toEqual([]);
    expect(again.dismissed).toBe(2);
    // A third copy of scene 5 joins the leak's group: its images changed, so it shows again.
    const more = tempDir('loupe-doctor-more-');
    put(more, 'val/cat/again.png', await sharp(await png(scene(6))).jpeg({ quality: 60 }).toBuffer());
    await importInto(project, [path.join(more, 'val')]);
    const third = await runDoctor(project);
    expect(third.findings[0].crossSplit).toBe(true);
    expect(third.findings[0].images.map((i) => i.name).sort()).toEqual(['again.png', 'mirror.png', 'scene5.png']);
    expect(namesOf(third, 'blurry')).toEqual([]);
  });
});
