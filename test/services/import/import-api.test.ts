// Import through the API: jobs with progress and a report, events to every window of the
// project, pending imports, resume, and errors.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ImportReport, JobInfo, ProjectSummary } from '../../../src/shared/types';
import { client, finished } from '../../api/api-helpers';
import { makeStudio, tempDir } from '../../helpers';
import { folder } from './import-helpers';

describe('import API', () => {
  it('imports paths as a job whose result is the report, and tells every window of the project', async () => {
    const studio = makeStudio();
    const a = client(studio);
    const b = client(studio);
    const dir = path.join(tempDir(), 'api.loupe');
    await a.api.createProject({ path: dir });
    await b.api.openProject({ path: dir });
    const src = await folder({ 'cat/1.png': 1, 'cat/2.png': 2, 'dog/1.png': 3, 'bad.jpg': Buffer.from('nope') });

    const { jobId, importId } = await a.api.importPaths({ paths: [src] });
    const changedA = a.next('onProjectChanged', (s) => (s?.images ?? 0) > 0);
    const changedB = b.next('onProjectChanged', (s) => (s?.images ?? 0) > 0);
    const job = (await finished(a, jobId)) as JobInfo;
    expect(job).toMatchObject({ kind: 'import', status: 'completed', error: null });
    const report = job.result as ImportReport;
    expect(report).toMatchObject({ importId, status: 'completed', imported: 3, duplicates: 0, skippedTotal: 1, createdClasses: ['cat', 'dog'] });
    expect(report.skipped).toEqual([{ path: path.join(src, 'bad.jpg'), reason: expect.stringMatching(/Not an image/) }]);
    for (const summary of [await changedA, await changedB] as ProjectSummary[]) {
      expect(summary).toMatchObject({ images: 3, labeled: 3 });
    }
    const progress = a.events.filter((e) => e.name === 'onJobProgress').map((e) => e.payload as JobInfo);
    expect(progress.at(-1)).toMatchObject({ jobId, done: 4, total: 4, detail: { imported: 3, skipped: 1 } });
    expect(await a.api.importReport({ importId })).toEqual(report);
    expect(await a.api.pendingImports()).toEqual([]);
  });

  it('refuses a second import while one runs, without leaving a record behind', async () => {
    const studio = makeStudio();
    const c = client(studio);
    await c.api.createProject({ path: path.join(tempDir(), 'busy.loupe') });
    const src = await folder({ 'a.png': 1, 'b.png': 2 });
    const first = await c.api.importPaths({ paths: [src] });
    await expect(c.api.importPaths({ paths: [src] })).rejects.toMatchObject({ code: 'BUSY' });
    await finished(c, first.jobId);
    expect(await c.api.pendingImports()).toEqual([]);
  });

  it('lists a cancelled import as pending, resumes it, and refuses to resume a finished one', async () => {
    const studio = makeStudio();
    const c = client(studio);
    await c.api.createProject({ path: path.join(tempDir(), 'resume.loupe') });
    const src = await folder({ 'cat/1.png': 1, 'cat/2.png': 2, 'dog/3.png': 3 });
    const { jobId, importId } = await c.api.importPaths({ paths: [src] });
    await c.api.cancelJob({ jobId });
    const cancelled = (await finished(c, jobId)) as JobInfo;
    expect(cancelled.status).toBe('cancelled');
    expect(await c.api.pendingImports()).toEqual([expect.objectContaining({ importId, status: 'cancelled', sources: [src] })]);

    const resumed = await c.api.resumeImport({ importId });
    expect(resumed.importId).toBe(importId);
    const done = (await finished(c, resumed.jobId)) as JobInfo;
    expect(done.result).toMatchObject({ status: 'completed', imported: 3 });
    expect(await c.api.pendingImports()).toEqual([]);
    await expect(c.api.resumeImport({ importId })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(c.api.discardImport({ importId })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(c.api.importReport({ importId: 999 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('needs an open project; the desktop window has no uploads', async () => {
    const c = client(makeStudio());
    await expect(c.api.importPaths({ paths: ['/tmp'] })).rejects.toMatchObject({ code: 'NO_PROJECT' });
    await expect(c.api.beginUpload()).rejects.toMatchObject({ code: 'NO_PROJECT' });
    const desktop = client(makeStudio({ mode: 'desktop' }));
    await desktop.api.createProject({ path: path.join(tempDir(), 'd.loupe') });
    await expect(desktop.api.beginUpload()).rejects.toMatchObject({ code: 'NOT_SUPPORTED' });
  });
});
