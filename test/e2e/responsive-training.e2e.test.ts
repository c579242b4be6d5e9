// The UI stays responsive while a training run keeps every core busy: labeling keystrokes are
// saved and painted (target: 100 ms at the 95th percentile, printed; held to three times that by
// generous()), in the real UI in Chromium.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeFixtureProject } from '../fixtures';
import { tempDir } from '../helpers';
import { connectApi } from '../transport/ws-api';
import { generous, hasChromium, labelLatencies, launch, newPage, percentile, serve } from './harness';

const CLASSES = ['cat', 'dog', 'bird'];

/** A second client of the same server (as another tab would be), to start and watch the run. */
async function apiClient(openUrl: string) {
  const api = await connectApi(openUrl);
  const progress: number[] = [];
  api.onEvent((name, payload) => {
    if (name === 'onJobProgress' && (payload as { kind: string }).kind === 'train') progress.push(Date.now());
  });
  return { call: api.call, progress, close: api.close };
}

describe.runIf(hasChromium)('responsiveness during training (Chromium, browser mode)', () => {
  it('labels at typing speed (p95 saved and painted, printed against 100 ms) while a run trains on every core', { timeout: 120_000 }, async () => {
    const dir = path.join(tempDir(), 'busy.loupe');
    await makeFixtureProject(dir, { count: 3000, classes: CLASSES, distinct: 300, label: (i) => (i % 2 ? CLASSES[i % 3] : undefined) });
    const server = await serve(['--project', dir]);
    const browser = await launch();
    const { page, problems } = await newPage(browser);
    await page.goto(server.openUrl);
    await page.getByTestId('filter-unlabeled').click();
    await expect.poll(() => page.getByTestId('gallery-count').textContent()).toBe('1,500 images');

    const api = await apiClient(server.openUrl);
    expect((await api.call('openProject', { path: dir })).ok).toBe(true);
    const started = await api.call('startTraining', { overrides: { arch: 'mlp', width: 16, height: 16, epochs: 1000, patience: null } });
    expect(started.ok, JSON.stringify(started.error)).toBe(true);
    // Wait until it is really training (past preparing the images).
    await expect.poll(() => api.progress.length, { timeout: 60_000 }).toBeGreaterThan(20);

    const firstProgress = api.progress.length;
    for (let i = 0; i < 80; i++) {
      await page.keyboard.press(String((i % 3) + 1));
      await page.waitForTimeout(125);
    }
    const latencies = await labelLatencies(page, 80);
    expect(latencies).toHaveLength(80);
    // The run kept going the whole time.
    expect(api.progress.length - firstProgress).toBeGreaterThan(10);
    const jobs = (await api.call('listJobs')).value as { jobId: string; kind: string; status: string }[];
    const training = jobs.filter((j) => j.kind === 'train' && j.status === 'running');
    expect(training).toHaveLength(1);
    await api.call('cancelJob', { jobId: training[0].jobId });
    api.close();

    const p50 = percentile(latencies, 50);
    const p95 = percentile(latencies, 95);
    console.log(`[figures] label keystroke saved+painted during training: p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms (n=${latencies.length})`);
    expect(p95).toBeLessThan(generous(100));
    expect(await page.getByTestId('count-unlabeled').textContent()).toBe('1,420');
    expect(problems).toEqual([]);
  });
});
