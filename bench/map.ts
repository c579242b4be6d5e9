// The map's layout figure (issue 17: 60,000 points within 90 s on 2 cores), in two parts.
//
// 1. Synthetic: 60,000 unit-length 1024-d feature rows in 20 clusters (as cachedFeatures hands
//    them to the map), laid out by the same layout() the map worker runs, in this process: each
//    phase's wall time and this process's CPU time (onnxruntime's threads included), and how well
//    the clusters stay apart (share of points whose nearest point on the map is of their cluster).
// 2. Real: a CIFAR-10 subset (--real N images, default 2,000, 10 classes) imported into a project,
//    MobileNet v1's features extracted at 128 px, then the map job's own layoutMap: how often a
//    point's 10 nearest neighbours on the map share its class, against the same in the 1024-d
//    features (what a 2-D picture keeps of the neighbourhoods).
// 3. --compare N: umap-js as shipped (its nearest-neighbour descent, its graph, 200 epochs) on the
//    first N synthetic points, against layout() on the same N, in the same run.
//   npm run bench:map [-- --n 60000 | --n 0] [--epochs 200] [--real 2000 | --real 0] [--compare 5000]

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { UMAP } from 'umap-js';
import { main } from '../src/main/cli/index';
import { cachedFeatures, ensureFeatures, resolveBackbone } from '../src/main/services/backbones';
import { layoutMap } from '../src/main/services/map';
import { layout, type LayoutSettings } from '../src/main/services/map/layout';
import { layoutPoints, layoutRow, liveMapImages } from '../src/main/services/map/records';
import { DEFAULT_SETTINGS, defaultEpochs } from '../src/main/services/map/settings';
import { permutation, seededRandom } from '../src/main/services/rng';
import { Project } from '../src/main/store/project';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { n: { type: 'string' }, epochs: { type: 'string' }, real: { type: 'string' }, compare: { type: 'string' } } });
process.env.LOUPE_BACKBONE_DIR ??= path.join(repo, '..', 'shared', 'models');
const N = Number(values.n ?? 60_000);
const F = 1024;
const CLUSTERS = 20;

function synthetic(n: number): { rows: Float32Array; cluster: Int32Array } {
  const random = seededRandom(11);
  const gauss = () => Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
  const centres = Array.from({ length: CLUSTERS }, () => Float32Array.from({ length: F }, gauss));
  const rows = new Float32Array(n * F);
  const cluster = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    cluster[i] = i % CLUSTERS;
    let norm = 0;
    for (let j = 0; j < F; j++) {
      const v = centres[cluster[i]][j] + 0.8 * gauss();
      rows[i * F + j] = v;
      norm += v * v;
    }
    norm = Math.sqrt(norm);
    for (let j = 0; j < F; j++) rows[i * F + j] /= norm;
  }
  return { rows, cluster };
}

/** Of `sample` points, the share of their k nearest (by `dist`) that share their class. */
function neighbourAgreement(n: number, classOf: (i: number) => number, dist: (a: number, b: number) => number, k: number, sample: number): number {
  const random = seededRandom(3);
  let agree = 0;
  for (let s = 0; s < sample; s++) {
    const i = Math.floor(random() * n);
    const best: { d: number; j: number }[] = [];
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const d = dist(i, j);
      if (best.length < k || d < best[best.length - 1].d) {
        best.push({ d, j });
        best.sort((a, b) => a.d - b.d);
        if (best.length > k) best.pop();
      }
    }
    agree += best.filter((b) => classOf(b.j) === classOf(i)).length / k;
  }
  return agree / sample;
}

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function syntheticRun(): Promise<void> {
  console.log(`Synthetic: ${N.toLocaleString('en-US')} points, ${F}-d, ${CLUSTERS} clusters; ${os.cpus().length} cores, load average ${os.loadavg()[0].toFixed(1)} at start.`);
  const { rows, cluster } = synthetic(N);
  const settings: LayoutSettings = { ...DEFAULT_SETTINGS, epochs: Number(values.epochs ?? defaultEpochs(N)) };
  const phases: { phase: string; wall: number; cpu: number }[] = [];
  let current = '';
  let wall0 = performance.now();
  let cpu0 = cpuSeconds();
  const started = { wall: wall0, cpu: cpu0 };
  const result = await layout(rows, N, F, settings, (_done, _total, phase) => {
    if (phase === current) return;
    const [wall, cpu] = [performance.now(), cpuSeconds()];
    if (current) phases.push({ phase: current, wall: (wall - wall0) / 1000, cpu: cpu - cpu0 });
    [current, wall0, cpu0] = [phase, wall, cpu];
  });
  const [wall, cpu] = [performance.now(), cpuSeconds()];
  phases.push({ phase: current, wall: (wall - wall0) / 1000, cpu: cpu - cpu0 });
  for (const p of phases) console.log(`  ${p.phase.padEnd(20)} ${p.wall.toFixed(1).padStart(6)} s wall ${p.cpu.toFixed(1).padStart(6)} s CPU`);
  console.log(`  ${'total'.padEnd(20)} ${((wall - started.wall) / 1000).toFixed(1).padStart(6)} s wall ${(cpu - started.cpu).toFixed(1).padStart(6)} s CPU (${settings.epochs} epochs); load average ${os.loadavg()[0].toFixed(1)} at the end`);
  const coords = result!.coords;
  const purity = neighbourAgreement(N, (i) => cluster[i], (a, b) => (coords[a * 2] - coords[b * 2]) ** 2 + (coords[a * 2 + 1] - coords[b * 2 + 1]) ** 2, 1, 500);
  console.log(`  nearest point on the map in the same cluster: ${(purity * 100).toFixed(1)}% (500 sampled points)`);

  const compare = Number(values.compare ?? 0);
  if (compare > 0) {
    const sub = rows.subarray(0, compare * F);
    let t = performance.now();
    await layout(sub, compare, F, { ...DEFAULT_SETTINGS, epochs: defaultEpochs(compare) });
    const ours = (performance.now() - t) / 1000;
    const X = Array.from({ length: compare }, (_, i) => Array.from(sub.subarray(i * F, (i + 1) * F)));
    t = performance.now();
    new UMAP({ random: seededRandom(1), nEpochs: defaultEpochs(compare) }).fit(X);
    const theirs = (performance.now() - t) / 1000;
    console.log(`  ${compare.toLocaleString('en-US')} points: umap-js as shipped ${theirs.toFixed(1)} s, layout() ${ours.toFixed(1)} s (${(theirs / ours).toFixed(1)}x), same epochs`);
  }
}

async function realRun(count: number): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-bench-map-'));
  try {
    const cifar = '/tmp/cifar10';
    if (!fs.existsSync(cifar)) execFileSync('tar', ['xzf', path.join(repo, '..', 'shared', 'datasets', 'cifar10-jpeg.tar.gz'), '-C', '/tmp']);
    const images = path.join(work, 'images');
    const classes = fs.readdirSync(path.join(cifar, 'train')).sort();
    for (const [k, cls] of classes.entries()) {
      const files = fs.readdirSync(path.join(cifar, 'train', cls)).sort();
      const order = permutation(files.length, seededRandom(100 + k));
      fs.mkdirSync(path.join(images, 'train', cls), { recursive: true });
      for (let i = 0; i < Math.ceil(count / classes.length); i++) fs.copyFileSync(path.join(cifar, 'train', cls, files[order[i]]), path.join(images, 'train', cls, files[order[i]]));
    }
    const dir = path.join(work, 'cifar.loupe');
    const quiet = { out: () => {}, err: (s: string) => console.error(s), json: () => {}, interrupted: new Promise<void>(() => {}) };
    if ((await main(['create', dir], quiet)) !== 0 || (await main(['import', dir, images], quiet)) !== 0) throw new Error('import failed');
    const project = Project.open(dir);
    try {
      const rows = liveMapImages(project.db);
      const hashes = project.db.prepare('SELECT hash, ext FROM images WHERE removed_at IS NULL ORDER BY id').all() as { hash: string; ext: string }[];
      let t = performance.now();
      await ensureFeatures(project, resolveBackbone('mobilenet_v1'), 128, hashes);
      console.log(`\nReal: ${rows.length.toLocaleString('en-US')} CIFAR-10 train images, MobileNet v1 features at 128 px extracted in ${((performance.now() - t) / 1000).toFixed(1)} s.`);
      t = performance.now();
      const result = await layoutMap(project, {});
      console.log(`  layoutMap: ${result.laidOut} points in ${((performance.now() - t) / 1000).toFixed(1)} s (worker thread included)`);
      const features = cachedFeatures(project, rows.map((r) => r.hash))!;
      const row = layoutRow(project.db, `${features.backbone}@${features.resolution}`)!;
      const pos = new Map(layoutPoints(project.db, row.id).map((p) => [p.imageId, p]));
      const n = rows.length;
      const label = rows.map((r) => r.classId ?? -1);
      const vec = rows.map((r) => features.vectors.get(r.hash)!);
      const xy = rows.map((r) => pos.get(r.id)!);
      const onMap = neighbourAgreement(n, (i) => label[i], (a, b) => (xy[a].x - xy[b].x) ** 2 + (xy[a].y - xy[b].y) ** 2, 10, 400);
      const inFeatures = neighbourAgreement(n, (i) => label[i], (a, b) => -vec[a].reduce((s, v, c) => s + v * vec[b][c], 0), 10, 400);
      console.log(`  10 nearest neighbours of the same class: ${(onMap * 100).toFixed(1)}% on the map, ${(inFeatures * 100).toFixed(1)}% in the features (cosine), 400 sampled points`);
    } finally {
      project.close();
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (N > 0) await syntheticRun();
const real = Number(values.real ?? 2000);
if (real > 0) await realRun(real);
