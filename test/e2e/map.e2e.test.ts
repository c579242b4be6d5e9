// The map in Chromium (browser mode, software WebGL as CI has it): laid out from the view, a lasso
// labels exactly the images inside it (read back through the API), moves them to a split, opens
// them in the gallery, hovering shows the thumbnail; and 100,000 points pan at frame rate.

import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { storeLayout } from '../../src/main/services/map/records';
import { seededRandom } from '../../src/main/services/rng';
import { Project } from '../../src/main/store/project';
import { makeFixtureProject } from '../fixtures';
import { tempDir } from '../helpers';
import { imageHashes, makeClusteredProject, writeFeatureCache } from '../map-fixtures';
import { hasChromium, JOB_WAIT, launch, newPage, serve, type Served } from './harness';

type MapHook = { __loupeMap: { screenPosition(i: number): [number, number] | undefined; ids(): number[] } };

/** One API call over the server's WebSocket, as another window of the same project. */
async function apiCall<T>(server: Served, project: string, method: string, params: object = {}): Promise<T> {
  const token = new URL(server.openUrl).searchParams.get('token')!;
  const ws = new WebSocket(`${server.origin.replace('http', 'ws')}/api?token=${token}`, { headers: { Origin: server.origin } });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let next = 1;
  const call = (m: string, p: object) =>
    new Promise<unknown>((resolve, reject) => {
      const id = next++;
      const onMessage = (raw: WebSocket.RawData) => {
        const msg = JSON.parse(String(raw));
        if (msg.type !== 'result' || msg.id !== id) return;
        ws.off('message', onMessage);
        if (msg.ok) resolve(msg.value);
        else reject(new Error(`${msg.error.code}: ${msg.error.message}`));
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ type: 'call', id, method: m, params: p }));
    });
  try {
    await call('openProject', { path: project });
    return (await call(method, params)) as T;
  } finally {
    ws.close();
  }
}

/** Every point's place on screen (page pixels) by image id. */
async function screenPoints(page: Page): Promise<Map<number, [number, number]>> {
  const box = (await page.getByTestId('map-canvas').boundingBox())!;
  const list = await page.evaluate(() => {
    const hook = (window as unknown as MapHook).__loupeMap;
    return hook.ids().map((id, i) => [id, hook.screenPosition(i)!] as const);
  });
  return new Map(list.map(([id, [x, y]]) => [id, [box.x + x, box.y + y]]));
}

/** Shift-drags a rectangle lasso from (x0, y0) to (x1, y1). */
async function lasso(page: Page, x0: number, y0: number, x1: number, y1: number): Promise<void> {
  await page.mouse.move(x0, y0);
  await page.keyboard.down('Shift');
  await page.mouse.down();
  const corners: [number, number][] = [
    [x1, y0],
    [x1, y1],
    [x0, y1],
    [x0, y0 + 1],
  ];
  for (const [x, y] of corners) await page.mouse.move(x, y, { steps: 12 });
  await page.mouse.up();
  await page.keyboard.up('Shift');
}

describe.runIf(hasChromium)('the map (Chromium)', () => {
  it('lays out from the view; a lasso labels exactly its images, moves them to a split, opens them in the gallery; hover shows the thumbnail', { timeout: 180_000 }, async () => {
    const dir = path.join(tempDir(), 'map.loupe');
    const classes = ['red', 'green', 'blue'];
    const { ids } = await makeClusteredProject(dir, { count: 240, classes, clusters: 3 });
    const clusterOf = (id: number) => ids.indexOf(id) % 3;
    const server = await serve(['--project', dir]);
    const browser = await launch();
    const { page, problems } = await newPage(browser);
    await page.goto(server.openUrl);
    await page.getByRole('button', { name: 'Map', exact: true }).click();

    await page.getByTestId('map-start').click();
    await expect.poll(() => page.getByTestId('map-canvas').getAttribute('data-points'), JOB_WAIT).toBe('240');
    await expect.poll(() => page.getByTestId('map-count').textContent()).toContain('240 images');

    // A rectangle around cluster 0's points, where no other point is.
    const onScreen = await screenPoints(page);
    const own = ids.filter((id) => clusterOf(id) === 0).map((id) => onScreen.get(id)!);
    const margin = 6;
    const [x0, y0] = [Math.min(...own.map((p) => p[0])) - margin, Math.min(...own.map((p) => p[1])) - margin];
    const [x1, y1] = [Math.max(...own.map((p) => p[0])) + margin, Math.max(...own.map((p) => p[1])) + margin];
    const inside = [...onScreen].filter(([, [x, y]]) => x > x0 && x < x1 && y > y0 && y < y1).map(([id]) => id);
    expect(inside.every((id) => clusterOf(id) === 0), 'the clusters overlap on screen').toBe(true);
    expect(inside).toHaveLength(80);

    await lasso(page, x0, y0, x1, y1);
    await expect.poll(() => page.getByTestId('map-selection').textContent()).toBe('80 selected');
    await page.keyboard.press('2');
    await expect.poll(async () => (await apiCall<number[]>(server, dir, 'imageIds', { filter: { unlabeled: true } })).length).toBe(160);
    const summary = await apiCall<{ classes: { id: number; name: string }[] }>(server, dir, 'projectSummary');
    const greenId = summary.classes.find((c) => c.name === 'green')!.id;
    const labeled = await apiCall<number[]>(server, dir, 'imageIds', { filter: { classId: greenId } });
    expect(new Set(labeled)).toEqual(new Set(inside));
    // Undone and redone from the map, as in the gallery.
    await page.keyboard.press('Control+z');
    await expect.poll(async () => (await apiCall<number[]>(server, dir, 'imageIds', { filter: { unlabeled: true } })).length).toBe(240);
    await page.keyboard.press('Control+Shift+z');
    await expect.poll(async () => (await apiCall<number[]>(server, dir, 'imageIds', { filter: { unlabeled: true } })).length).toBe(160);
    await expect.poll(() => page.locator('.legend li', { hasText: 'green' }).textContent()).toContain('80');

    // The same selection to the test split.
    await page.getByTestId('map-move-split').selectOption('test');
    await expect.poll(async () => new Set(await apiCall<number[]>(server, dir, 'imageIds', { filter: { split: 'test', classId: greenId } })).size).toBe(80);
    const testImages = await apiCall<number[]>(server, dir, 'imageIds', { filter: { split: 'test' } });
    // The fixture put every tenth image in test already; the others moved there now are exactly the lasso's.
    expect(testImages.filter((id) => !inside.includes(id)).every((id) => ids.indexOf(id) % 10 === 9)).toBe(true);

    // Colour by split: the legend counts them.
    await page.getByTestId('map-colour').selectOption('split');
    await expect.poll(() => page.locator('.legend li', { hasText: 'Test' }).textContent()).toContain(String(testImages.length));

    // Hover: the thumbnail of the point under the cursor.
    const [hx, hy] = onScreen.get(ids[1])!;
    await page.mouse.move(hx, hy);
    await expect.poll(() => page.getByTestId('map-hover').locator('img').getAttribute('alt')).toMatch(/^img_\d{5}\.png$/);
    await page.waitForFunction(() => {
      const img = document.querySelector<HTMLImageElement>('[data-testid=map-hover] img');
      return img !== null && img.complete && img.naturalWidth > 0;
    });

    // Open in gallery: the Label view shows the 80, labeled green.
    await page.getByTestId('map-open-gallery').click();
    await expect.poll(() => page.getByTestId('gallery-count').textContent()).toBe('80 images');
    expect(await page.getByTestId('gallery-scope').count()).toBe(1);
    await page.getByRole('button', { name: 'Show all' }).click();
    await expect.poll(() => page.getByTestId('gallery-count').textContent()).toBe('240 images');
    expect(problems).toEqual([]);
  });
});

describe.runIf(hasChromium)('the map without a backbone (Chromium)', () => {
  it('says the map needs cached backbone features and leads to them', { timeout: 60_000 }, async () => {
    const dir = path.join(tempDir(), 'plain.loupe');
    await makeFixtureProject(dir, { count: 12 });
    const server = await serve(['--project', dir]);
    const browser = await launch();
    const { page, problems } = await newPage(browser);
    await page.goto(server.openUrl);
    await page.getByRole('button', { name: 'Map', exact: true }).click();
    await expect.poll(() => page.getByTestId('map-empty').textContent()).toContain('this project has no cached backbone features yet');
    expect(await page.getByTestId('map-start').count()).toBe(0);
    await page.getByRole('button', { name: 'Go to Train → Backbones' }).click();
    await expect.poll(() => page.evaluate(() => location.hash)).toMatch(/\/train$/);
    expect(problems).toEqual([]);
  });
});

describe.runIf(hasChromium && process.env.LOUPE_LOAD !== '0')('the map of 100,000 images (Chromium, software WebGL)', () => {
  it('pans at frame rate (frames counted while the test drags; printed against 30 per second)', { timeout: 900_000 }, async () => {
    const N = 100_000;
    const CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
    const dir = path.join(tempDir(), 'big.loupe');
    await makeFixtureProject(dir, { count: N, classes: CLASSES, distinct: 2000, label: (i) => (i % 3 ? CLASSES[i % 10] : undefined) });
    const images = imageHashes(dir);
    // The map needs to know which images have features; the drawing is what is measured, so the
    // layout is written as the map job writes one: ten clusters, as a UMAP of ten classes looks.
    writeFeatureCache(dir, 'tiny', 64, images.map((im) => im.hash), new Float32Array(N * 2).fill(1), 2);
    const random = seededRandom(5);
    const gauss = () => Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
    const centres = Array.from({ length: 10 }, (_, k) => [Math.cos(k * 0.63) * 8, Math.sin(k * 0.63) * 8]);
    const project = Project.open(dir);
    const f32 = (a: number[]) => Buffer.from(Float32Array.from(a).buffer);
    storeLayout(
      project.db,
      { features: 'tiny@64', backbone: 'tiny', resolution: 64, settings: JSON.stringify({ seed: 1, neighbours: 15, dims: 2, epochs: 200, minDist: 0.1 }), dims: 2, featureCount: 2, mean: f32([0, 0]), components: f32([1, 0, 0, 1]), seconds: 0 },
      images.map((im, i) => {
        const [cx, cy] = centres[i % 10];
        const [x, y] = [cx + 1.5 * gauss(), cy + 1.5 * gauss()];
        return { imageId: im.id, x, y, vector: f32([x, y]) };
      }),
    );
    project.close();

    const server = await serve(['--project', dir]);
    const browser = await launch();
    const { page, problems } = await newPage(browser);
    await page.goto(server.openUrl);
    await page.getByRole('button', { name: 'Map', exact: true }).click();
    await expect.poll(() => page.getByTestId('map-canvas').getAttribute('data-points'), { timeout: 120_000 }).toBe(String(N));

    const box = (await page.getByTestId('map-canvas').boundingBox())!;
    const [cx, cy] = [box.x + box.width / 2, box.y + box.height / 2];
    const before = await page.evaluate(() => (window as unknown as MapHook).__loupeMap.screenPosition(0)!);
    // The test presses the mouse and moves it, as a hand does: one move per animation frame
    // (dispatched in the page, since each move sent from here waits a round trip to the browser,
    // which on a busy machine is slower than a frame), for three seconds. requestAnimationFrame
    // counts the page's frames; the plot counts the frames it drew.
    await page.mouse.move(cx, cy);
    await page.mouse.down();
    const measured = await page.evaluate(
      ({ cx, cy }) =>
        new Promise<{ frames: number; draws: number; layers: number; seconds: number }>((resolve) => {
          const hook = (window as unknown as { __loupeMap: { draws(): number; layerRenders(): number } }).__loupeMap;
          const canvas = document.querySelector<HTMLCanvasElement>('[data-testid=map-canvas]')!;
          const draws0 = hook.draws();
          const layers0 = hook.layerRenders();
          const t0 = performance.now();
          let frames = 0;
          const tick = (now: number) => {
            frames += 1;
            const a = (now - t0) / 300;
            canvas.dispatchEvent(new PointerEvent('pointermove', { clientX: cx + 150 * Math.sin(a), clientY: cy + 100 * Math.sin(2 * a), buttons: 1, pointerId: 1, bubbles: true }));
            if (now - t0 < 3000) requestAnimationFrame(tick);
            else resolve({ frames, draws: hook.draws() - draws0, layers: hook.layerRenders() - layers0, seconds: (now - t0) / 1000 });
          };
          requestAnimationFrame(tick);
        }),
      { cx, cy },
    );
    // The last stretch through the browser's own input, from here.
    await page.mouse.move(cx + 120, cy, { steps: 4 });
    await page.mouse.up();
    const after = await page.evaluate(() => (window as unknown as MapHook).__loupeMap.screenPosition(0)!);
    const fps = measured.draws / measured.seconds;
    console.log(
      `[figures] map of ${N.toLocaleString('en-US')} points while panning: ${fps.toFixed(1)} frames drawn per second ` +
        `(${measured.draws} map frames, ${measured.frames} animation frames in ${measured.seconds.toFixed(2)} s, the points drawn anew ${measured.layers} times; ` +
        `Chromium headless, SwiftShader WebGL)`,
    );
    // The drag moved the view: point 0 moved with it, by the last offset (120 px right).
    expect(after[0] - before[0]).toBeCloseTo(120, 0);
    expect(after[1] - before[1]).toBeCloseTo(0, 0);
    // Held generously (a shared CI machine): a third of the 30 frames per second aimed at.
    expect(fps).toBeGreaterThan(10);
    expect(problems).toEqual([]);

    await browser.close();
    server.proc.kill('SIGTERM');
    await new Promise((resolve) => server.proc.once('exit', resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
