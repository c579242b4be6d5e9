// The Export and Predict views in the real UI (browser mode, Chromium): export a trained run
// into a chosen folder and see the parity figure (ONNX, then TFLite with its int8 figures); a name that leaves the folder is refused;
// predict uploaded images with the run's model, see their top classes, save them as CSV.

import fs from 'node:fs';
import path from 'node:path';
import { unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { runTraining } from '../../src/main/services/training/train';
import { mediaRelPath } from '../../src/main/store/media';
import { Project } from '../../src/main/store/project';
import { tempDir } from '../helpers';
import { makePatternProject, PATTERNS } from '../services/training/train-helpers';
import { hasChromium, JOB_WAIT, launch, newPage, serve } from './harness';

const text = async (locator: { textContent(): Promise<string | null> }) => ((await locator.textContent()) ?? '').replace(/\s+/g, ' ').trim();

/** A trained project and three test images the run classified right, with their classes. */
async function trainedProject() {
  const root = path.join(tempDir(), 'shapes.loupe');
  await makePatternProject(root, { perClass: 40, size: 16, seed: 4 });
  const project = Project.open(root);
  try {
    const run = await runTraining(project, { arch: 'cnn-small', epochs: 4, batchSize: 16, seed: 7, workers: 1 });
    const images = (
      project.db
        .prepare(
          `SELECT i.hash, i.ext, p.true_index AS t FROM predictions p JOIN images i ON i.id = p.image_id
            WHERE p.run_id = ? AND p.split = 'test' AND p.predicted_index = p.true_index ORDER BY p.confidence DESC LIMIT 3`,
        )
        .all(run.runId) as { hash: string; ext: string; t: number }[]
    ).map((r) => ({ file: path.join(root, mediaRelPath(r.hash, r.ext)), label: PATTERNS[r.t] }));
    return { root, runId: run.runId, images };
  } finally {
    project.close();
  }
}

describe.runIf(hasChromium)('export and predict views (Chromium, browser mode)', () => {
  it('exports a run with its parity figure, then predicts uploaded images and saves a CSV', async () => {
    const { root, runId, images } = await trainedProject();
    const out = tempDir();
    const server = await serve(['--project', root]);
    const browser = await launch();
    const { page, problems } = await newPage(browser);
    await page.goto(server.openUrl);
    const views = page.getByRole('navigation', { name: 'Views' });

    await views.getByRole('button', { name: 'Export' }).click();
    await expect.poll(() => page.getByTestId('export-run').locator('option').count()).toBe(1);
    expect(await page.getByTestId('export-dir').inputValue()).toBe(path.dirname(root));
    await page.getByTestId('export-dir').fill(out);

    // A name that would leave the chosen folder is refused, and nothing is written.
    await page.getByTestId('export-name').fill('../escape');
    await page.getByTestId('export-button').click();
    await expect.poll(() => text(page.getByTestId('export-error'))).toMatch(/would leave the chosen folder/);
    expect(fs.readdirSync(out)).toEqual([]);

    await page.getByTestId('export-name').fill('');
    await page.getByTestId('export-format').selectOption('onnx');
    await page.getByTestId('export-button').click();
    const result = page.getByTestId('export-result');
    await result.waitFor({ timeout: 30_000 });
    const folder = path.join(out, `shapes-run-${runId}`);
    expect(await text(page.getByTestId('export-path'))).toBe(`Folder: ${folder}`);
    expect(await text(page.getByTestId('export-parity'))).toMatch(/^ONNX vs TensorFlow\.js: same top class on all 12 images, max \|Δp\| \d\.\de-\d+ \(test split\)\.$/);
    expect(fs.existsSync(path.join(folder, 'model.onnx'))).toBe(true);
    await expect.poll(() => page.getByTestId('export-row').count(), JOB_WAIT).toBe(1);
    expect(await page.getByTestId('export-row').getAttribute('data-status')).toBe('completed');

    // Browser mode: the export is on the server's disk, so the page offers it as one zip
    // (made on demand: this export was not zipped), in the result and in the history.
    const link = result.getByTestId('export-download');
    const href = (await link.getAttribute('href'))!;
    expect(href).toMatch(/^\/exports\/[0-9a-f]{24}\/\d+\.zip$/);
    expect(await page.getByTestId('export-row').getByTestId('export-download').getAttribute('href')).toBe(href);
    const [zipped] = await Promise.all([page.waitForEvent('download'), link.click()]);
    expect(zipped.suggestedFilename()).toBe(`shapes-run-${runId}.zip`);
    const zipBytes = fs.readFileSync((await zipped.path())!);
    expect(zipBytes.subarray(0, 4).toString('latin1')).toBe('PK\x03\x04');
    const entries = unzipSync(new Uint8Array(zipBytes));
    const onnxEntry = entries[`shapes-run-${runId}/model.onnx`];
    expect(Buffer.from(onnxEntry).equals(fs.readFileSync(path.join(folder, 'model.onnx')))).toBe(true);
    expect(Object.keys(entries)).toContain(`shapes-run-${runId}/labels.txt`);
    // Without the token, or from another site, it is refused.
    expect((await fetch(server.origin + href)).status).toBe(401);
    const foreign = await page.context().request.get(server.origin + href, { headers: { Origin: 'https://evil.example' } });
    expect(foreign.status()).toBe(403);
    expect((await page.context().request.get(server.origin + href)).status()).toBe(200);

    // TFLite with its int8 model: the interpreter's check is the parity line, the int8 figures a row of their own.
    await page.getByTestId('export-format').selectOption('tflite-int8');
    expect(await text(page.getByTestId('export-format-note'))).toMatch(/^The int8 model is calibrated on up to 200 training images/);
    await page.getByTestId('export-button').click();
    await expect.poll(() => text(page.getByTestId('export-parity')), { timeout: 120_000 }).toMatch(/^TFLite vs TensorFlow\.js: same top class on all 12 images, max \|Δp\| \d\.\de-\d+ \(test split\)\.$/);
    const cells = await page.getByTestId('export-tflite-int8').locator('td').allTextContents();
    expect(cells.slice(0, 2)).toEqual(['TFLite int8', 'model-int8.tflite']);
    expect(cells.slice(2)).toEqual([expect.stringMatching(/^[\d.]+ MB$/), expect.stringMatching(/^(100\.0|99\.\d)%$/), expect.stringMatching(/^[\d.]+%$/), expect.stringMatching(/^[\d.]+ ms an image$/)]);
    expect(fs.existsSync(path.join(out, `shapes-run-${runId}-2`, 'model-int8.tflite'))).toBe(true);
    await expect.poll(() => page.getByTestId('export-row').count(), JOB_WAIT).toBe(2);

    await views.getByRole('button', { name: 'Predict' }).click();
    await expect.poll(() => page.getByTestId('predict-model').inputValue()).toBe(String(runId));
    await page.getByTestId('predict-files-input').setInputFiles(images.map((i) => i.file));
    await expect.poll(() => page.getByTestId('predict-top').count(), { timeout: 20_000 }).toBe(3);
    const tops = await page.getByTestId('predict-top').evaluateAll((els) => els.map((e) => e.querySelector('.label')?.textContent));
    expect(tops).toEqual(images.map((i) => i.label));
    expect(await text(page.getByTestId('predict-summary'))).toBe(`3 of 3 images · run #${runId} · onnxruntime cpu`);

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('predict-csv').click()]);
    expect(download.suggestedFilename()).toBe('predictions.csv');
    const csv = fs.readFileSync((await download.path())!, 'utf8').trim().split('\r\n');
    expect(csv[0]).toBe('image,predicted,confidence,p(horizontal),p(vertical),p(diagonal),error');
    expect(csv.slice(1).map((line) => line.split(',')[1])).toEqual(images.map((i) => i.label));

    // The exported model predicts the same.
    await page.getByTestId('predict-model').selectOption('exported');
    await page.getByTestId('predict-model-path').fill(folder);
    await page.getByTestId('predict-files-input').setInputFiles(images[0].file);
    await expect.poll(() => text(page.getByTestId('predict-summary')), { timeout: 20_000 }).toBe(`1 of 1 images · ${path.join(folder, 'model.onnx')} · onnxruntime cpu`);
    expect(await page.getByTestId('predict-top').locator('.label').textContent()).toBe(images[0].label);
    expect(problems).toEqual([]);
  }, 240_000);
});
