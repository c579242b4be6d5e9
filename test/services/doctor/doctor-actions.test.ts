// What is done to a finding's images is undoable and the doctor sees it: the last label check's
// pending findings join the list, dismissing (a label error kept as labeled too) is undone by
// Undo, and a leak's image removed, moved or relabeled comes back as it was.

import { describe, expect, it } from 'vitest';
import { dismissDoctorFindings, doctorReport, runDoctor } from '../../../src/main/services/doctor';
import { listLabelIssues } from '../../../src/main/services/evaluation/label-issues';
import { insertLabelCheck, issueStatements } from '../../../src/main/services/evaluation/records';
import { undo } from '../../../src/main/services/history';
import { imagesById, moveToSplit, removeImages, setLabel } from '../../../src/main/services/labeling';
import { runTraining } from '../../../src/main/services/training/train';
import type { DoctorReport } from '../../../src/shared/types';
import { knownProblems } from './doctor-helpers';

const idOf = (report: DoctorReport, name: string) => report.findings.flatMap((f) => f.images).find((i) => i.name === name)!.id;

describe('acting on doctor findings', () => {
  it('lists the label check’s pending findings; dismissing one keeps the label, and Undo shows it again', async () => {
    const { project } = await knownProblems();
    const db = project.db;
    const first = await runDoctor(project);
    const wide = idOf(first, 'wide.png');
    const classes = new Map((db.prepare('SELECT id, name FROM classes').all() as { id: number; name: string }[]).map((c) => [c.name, c.id]));
    // What a label check leaves: a finding that wide.png (labeled dog) looks like a cat.
    const { runId } = await runTraining(project, { arch: 'mlp', width: 8, height: 8, epochs: 1, seed: 1, patience: null });
    const checkId = insertLabelCheck(db, { runId, folds: 4, epochs: 1, images: 30, flagged: 1, seconds: 1, thresholds: '{}', heldBack: 0, reliability: '[]', createdAt: Date.now() });
    issueStatements(db).insert(wide, checkId, classes.get('dog')!, classes.get('cat')!, 0.1, 0.85, 'fold', Date.now());

    const report = await runDoctor(project);
    const errors = report.findings.filter((f) => f.check === 'labelError');
    expect(errors.map((f) => f.images.map((i) => i.name))).toEqual([['wide.png']]);
    expect(errors[0].detail).toBe('Labeled “dog” (10%); models trained without it say “cat” (85%).');
    expect(errors[0].score).toBeCloseTo(0.75);

    const shown = dismissDoctorFindings(project, [errors[0].key])!;
    expect(shown.findings.some((f) => f.check === 'labelError')).toBe(false);
    expect(listLabelIssues(db, 'pending').issues).toEqual([]);
    expect(imagesById(db, [wide])[0].classId).toBe(classes.get('dog'));

    expect(undo(db)).not.toBeNull();
    expect(doctorReport(project)!.findings.filter((f) => f.check === 'labelError')).toHaveLength(1);
    expect(listLabelIssues(db, 'pending').issues.map((i) => i.imageId)).toEqual([wide]);

    // Relabeled as suggested, it is no longer a finding.
    setLabel(db, [wide], classes.get('cat')!);
    expect((await runDoctor(project)).findings.some((f) => f.check === 'labelError')).toBe(false);
  }, 60_000);

  it('undoes removing, moving and relabeling a leak’s image, each restoring everything', async () => {
    const { project } = await knownProblems();
    const db = project.db;
    const report = await runDoctor(project);
    const mirror = idOf(report, 'mirror.png');
    const before = imagesById(db, [mirror])[0];
    const leaks = async () => (await runDoctor(project)).findings.filter((f) => f.crossSplit).length;

    removeImages(db, [mirror]);
    expect(imagesById(db, [mirror])).toEqual([]);
    expect(await leaks()).toBe(0);
    undo(db);
    expect(imagesById(db, [mirror])[0]).toEqual(before);
    expect(await leaks()).toBe(1);

    moveToSplit(db, [mirror], 'train');
    expect(await leaks()).toBe(0);
    undo(db);
    expect(imagesById(db, [mirror])[0]).toEqual(before);
    expect(await leaks()).toBe(1);

    setLabel(db, [mirror], null);
    expect(imagesById(db, [mirror])[0].classId).toBeNull();
    undo(db);
    expect(imagesById(db, [mirror])[0]).toEqual(before);
  });
});
