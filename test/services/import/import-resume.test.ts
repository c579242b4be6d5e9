// Dedupe, cancel and kill: what an interrupted import leaves behind is only complete images, and
// resuming it ends exactly where an uninterrupted import ends.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createImport, findResumable, importReport, pendingImports, recoverImports, runImport } from '../../../src/main/services/import';
import { mediaRelPath } from '../../../src/main/store/media';
import { Project } from '../../../src/main/store/project';
import { onCleanup, repoRoot, tempDir } from '../../helpers';
import { folder, image, importInto, imagesOf, newProject, tempFiles } from './import-helpers';

async function dataset(perClass = 40): Promise<string> {
  const layout: Record<string, number> = {};
  let seed = 1;
  for (const c of ['ant', 'bee', 'cow']) for (let i = 0; i < perClass; i++) layout[`${c}/${String(i).padStart(3, '0')}.png`] = seed++;
  for (let i = 0; i < 10; i++) layout[`loose-${i}.png`] = seed++;
  return folder(layout);
}

/** What must match between an interrupted-and-resumed import and an uninterrupted one. */
const essence = (project: Project, src: string) =>
  imagesOf(project)
    .map((i) => `${i.source.slice(src.length)} ${i.hash} ${i.label} ${i.split}`)
    .sort();

/** Every image row has its complete media file, and no temp files are left. */
function expectOnlyCompleteImages(project: Project): void {
  for (const i of imagesOf(project)) {
    const bytes = fs.readFileSync(path.join(project.root, mediaRelPath(i.hash, i.ext)));
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(i.hash);
  }
  expect(tempFiles(project.root)).toEqual([]);
}

async function reference(src: string) {
  const project = newProject('ref.loupe');
  project.db.prepare("UPDATE meta SET value = 'fixed-seed' WHERE key = 'split_seed'").run();
  const report = await importInto(project, [src], { batchSize: 4 });
  return { report, essence: essence(project, src) };
}

describe('duplicates', () => {
  it('keeps one image per content and reports every duplicate with the image it repeats', async () => {
    const same = await image('png', { seed: 42 });
    const src = await folder({ 'cat/a.png': same, 'cat/b.png': same, 'dog/a-again.png': same, 'dog/other.png': 7 });
    const project = newProject();
    const first = await importInto(project, [src]);
    expect(first).toMatchObject({ imported: 2, duplicates: 2 });
    expect(first.duplicateFiles).toEqual([
      { path: path.join(src, 'cat', 'b.png'), existing: path.join(src, 'cat', 'a.png') },
      { path: path.join(src, 'dog', 'a-again.png'), existing: path.join(src, 'cat', 'a.png') },
    ]);
    // The first in scan order wins, with its label.
    expect(imagesOf(project).map((i) => [i.name, i.label])).toEqual([['a.png', 'cat'], ['other.png', 'dog']]);

    const again = await importInto(project, [src]);
    expect(again).toMatchObject({ imported: 0, duplicates: 4, skippedTotal: 0 });
    expect(imagesOf(project)).toHaveLength(2);
  });
});

describe('interrupted imports', () => {
  it('resumes a cancelled import, skipping what was done, to the same end as an uninterrupted one', async () => {
    const src = await dataset();
    const ref = await reference(src);
    const project = newProject();
    project.db.prepare("UPDATE meta SET value = 'fixed-seed' WHERE key = 'split_seed'").run();
    const importId = createImport(project.db, [{ kind: 'path', path: src }]);
    const controller = new AbortController();
    const cancelled = await runImport(project, importId, { batchSize: 4, signal: controller.signal, onCommit: () => controller.abort() });
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.imported).toBeGreaterThan(0);
    expect(cancelled.imported).toBeLessThan(ref.report.imported);
    expectOnlyCompleteImages(project);
    expect(pendingImports(project.db)).toEqual([
      expect.objectContaining({ importId, status: 'cancelled', done: cancelled.imported, total: ref.report.total }),
    ]);
    expect(findResumable(project.db, [{ kind: 'path', path: src }])).toBe(importId);

    const progress: number[] = [];
    const resumed = await runImport(project, importId, { batchSize: 4, onProgress: (p) => progress.push(p.total ?? -1) });
    expect(resumed).toMatchObject({ status: 'completed', imported: ref.report.imported, duplicates: 0, total: ref.report.total });
    // Only the rest was worked on.
    expect(progress.at(-1)).toBe(ref.report.total - cancelled.imported);
    expect(essence(project, src)).toEqual(ref.essence);
    expect(pendingImports(project.db)).toEqual([]);
    expectOnlyCompleteImages(project);
  });

  it('resumes an import whose process was killed (SIGKILL) mid-way', async () => {
    const src = await dataset();
    const ref = await reference(src);
    const dir = path.join(tempDir(), 'killed.loupe');
    const setup = Project.create(dir);
    setup.db.prepare("UPDATE meta SET value = 'fixed-seed' WHERE key = 'split_seed'").run();
    const importId = createImport(setup.db, [{ kind: 'path', path: src }]);
    setup.close();

    const child = spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'test', 'fixtures', 'import-then-die.ts'), dir, String(importId)], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    expect(child.signal, child.stderr).toBe('SIGKILL');

    const project = Project.open(dir);
    onCleanup(() => project.close());
    const { n } = project.db.prepare('SELECT count(*) AS n FROM images').get() as { n: number };
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(ref.report.imported);
    expect(importReport(project.db, importId).status).toBe('running'); // as the dead process left it
    recoverImports(project);
    expect(pendingImports(project.db)).toEqual([expect.objectContaining({ importId, status: 'interrupted' })]);
    expectOnlyCompleteImages(project);

    const resumed = await runImport(project, importId, { batchSize: 4 });
    expect(resumed).toMatchObject({ status: 'completed', imported: ref.report.imported, duplicates: 0, skippedTotal: 0 });
    expect(essence(project, src)).toEqual(ref.essence);
    expectOnlyCompleteImages(project);
  });
});
