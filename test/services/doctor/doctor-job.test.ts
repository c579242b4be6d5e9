// The data doctor as a job over the API: progress with counts, the report as its result, kept
// for doctorReport; cancelled, it ends as such and keeps what it read, so the next check goes on
// from there.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DoctorReport } from '../../../src/shared/types';
import { makeFixtureProject } from '../../fixtures';
import { makeStudio, tempDir } from '../../helpers';
import { client, finished } from '../../api/api-helpers';

describe('the doctor job', () => {
  it('reports progress and its result, keeps the report, and a cancelled check keeps what it read', async () => {
    const dir = path.join(tempDir(), 'colours.loupe');
    await makeFixtureProject(dir, { count: 300, classes: ['a', 'b'], label: (i) => (i % 2 ? 'a' : 'b') });
    const c = client(makeStudio());
    await c.api.openProject({ path: dir });
    expect(await c.api.doctorReport()).toBeNull();

    const cancelled = await c.api.startDoctor();
    await c.api.cancelJob({ jobId: cancelled.jobId });
    expect(await finished(c, cancelled.jobId)).toMatchObject({ kind: 'doctor', status: 'cancelled' });
    expect(await c.api.doctorReport()).toBeNull();

    const { jobId } = await c.api.startDoctor();
    const job = await finished(c, jobId);
    expect(job).toMatchObject({ kind: 'doctor', status: 'completed' });
    const report = job.result as DoctorReport;
    expect(report.images).toBe(300);
    // The images read before the cancel were kept.
    expect(report.decoded).toBeGreaterThan(0);
    expect(report.decoded).toBeLessThan(300);
    const progress = c.events.filter((e) => e.name === 'onJobProgress' && (e.payload as { jobId: string }).jobId === jobId).map((e) => e.payload as { phase: string; total: number | null });
    expect(progress.some((p) => p.phase === 'Reading images' && p.total === report.decoded)).toBe(true);
    // Every fixture image is one flat colour: that is what it finds, and no near-duplicates among them.
    expect(report.checks.find((x) => x.check === 'lowInformation')?.count).toBe(300);
    expect(report.checks.find((x) => x.check === 'nearDuplicate')?.count).toBe(0);
    expect(await c.api.doctorReport()).toEqual(report);

    const shown = await c.api.dismissDoctorFindings({ keys: [report.findings[0].key] });
    expect(shown?.findings).toHaveLength(report.findings.length - 1);
    expect(shown?.dismissed).toBe(1);
    expect((await c.api.doctorReport())?.findings.map((f) => f.key)).not.toContain(report.findings[0].key);
  }, 60_000);
});
