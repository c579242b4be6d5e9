// The data doctor's near-duplicate figure (issue 17): a CIFAR-10 subset (2,000 train / 1,000 test,
// the same seeded subset as bench:transfer) into which 100 altered copies of train images are put
// in test (20 each: JPEG quality 40, half size and back, a 10% crop, +15% brightness, mirrored).
// How many of the 100 does the doctor report as cross-split near-duplicates, and how many other
// images does it flag? Once on the perceptual hash alone (no features cached), then again with
// MobileNet v1's features cached (as a transfer run or Extract features leaves them).
//   npm run bench:doctor [-- --seed N] [--keep] [--dir /var/tmp]
// --seed draws another subset and other images to alter (the limits were set on seed 1);
// --sheets DIR draws contact sheets to judge by eye: the near-duplicate groups that hold none of the
// altered copies (near-duplicates.png), and the first 50 findings of each other check (<check>.png).

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { main } from '../src/main/cli/index';
import { ensureFeatures, resolveBackbone } from '../src/main/services/backbones';
import { runDoctor } from '../src/main/services/doctor';
import { liveImages } from '../src/main/services/doctor/records';
import { permutation, seededRandom } from '../src/main/services/rng';
import { Project } from '../src/main/store/project';
import type { DoctorReport } from '../src/shared/types';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { keep: { type: 'boolean' }, dir: { type: 'string' }, resolution: { type: 'string' }, seed: { type: 'string' }, sheets: { type: 'string' } } });
process.env.LOUPE_BACKBONE_DIR ??= path.join(repo, '..', 'shared', 'models');
const CIFAR = '/tmp/cifar10';
const ALTERATIONS = ['jpeg40', 'half', 'crop', 'bright', 'mirror'] as const;
type Alteration = (typeof ALTERATIONS)[number];

function cifar(): string {
  if (!fs.existsSync(CIFAR)) execFileSync('tar', ['xzf', path.join(repo, '..', 'shared', 'datasets', 'cifar10-jpeg.tar.gz'), '-C', '/tmp']);
  return CIFAR;
}

/** CIFAR-10 class-balanced subset (seeded as bench:transfer's): <dir>/{train,test}/<class>/*.jpg. */
function subsetFolders(dir: string, perClass: { train: number; test: number }, seed = 1): string[] {
  const trainFiles: string[] = [];
  for (const split of ['train', 'test'] as const) {
    for (const [k, cls] of fs.readdirSync(path.join(cifar(), split)).sort().entries()) {
      const files = fs.readdirSync(path.join(CIFAR, split, cls)).sort();
      const order = permutation(files.length, seededRandom(seed * 1000 + k + (split === 'test' ? 500 : 0)));
      fs.mkdirSync(path.join(dir, split, cls), { recursive: true });
      for (let i = 0; i < perClass[split]; i++) {
        const target = path.join(dir, split, cls, files[order[i]]);
        fs.copyFileSync(path.join(CIFAR, split, cls, files[order[i]]), target);
        if (split === 'train') trainFiles.push(target);
      }
    }
  }
  return trainFiles;
}

/** An altered copy of an image file: what a person's data set picks up from re-saving, resizing, cropping, editing. */
async function alter(file: string, how: Alteration): Promise<Buffer> {
  const { width: w = 0, height: h = 0 } = await sharp(file).metadata();
  switch (how) {
    case 'jpeg40':
      return sharp(file).jpeg({ quality: 40 }).toBuffer();
    case 'half':
      return sharp(await sharp(file).resize(Math.round(w / 2), Math.round(h / 2)).png().toBuffer()).resize(w, h).png().toBuffer();
    case 'crop': {
      // 10% off the width and the height, from the top-left corner, scaled back to the size.
      const cw = Math.round(w * 0.9);
      const ch = Math.round(h * 0.9);
      return sharp(file).extract({ left: w - cw, top: h - ch, width: cw, height: ch }).resize(w, h).png().toBuffer();
    }
    case 'bright':
      return sharp(file).linear(1.15, 0).png().toBuffer();
    case 'mirror':
      return sharp(file).flop().png().toBuffer();
  }
}

const quiet = { out: () => {}, err: (s: string) => console.error(s), json: () => {}, interrupted: new Promise<void>(() => {}) };

/** One row per group (images at 64 px, at most 8 a row), for a person to judge. */
async function contactSheet(file: string, project: Project, groups: number[][], perRow = 8): Promise<void> {
  const files = new Map(liveImages(project.db).map((r) => [r.id, path.join(project.root, 'media', r.hash.slice(0, 2), `${r.hash}.${r.ext}`)]));
  const rows = groups.slice(0, 40);
  const tiles = await Promise.all(
    rows.flatMap((g, y) => g.slice(0, perRow).map(async (id, x) => ({ input: await sharp(files.get(id)!).resize(64, 64).png().toBuffer(), left: x * 68, top: y * 68 }))),
  );
  await sharp({ create: { width: perRow * 68, height: Math.max(1, rows.length) * 68, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite(tiles)
    .png()
    .toFile(file);
}

/** The sheets --sheets asks for: near-duplicate groups without altered copies, then each other check's first 50 images, 10 a row. */
async function drawSheets(dir: string, project: Project, report: DoctorReport, others: number[][]): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  await contactSheet(path.join(dir, 'near-duplicates.png'), project, others);
  for (const check of report.checks.map((c) => c.check).filter((c) => c !== 'nearDuplicate')) {
    const ids = report.findings.filter((f) => f.check === check).flatMap((f) => f.images.map((i) => i.id)).slice(0, 50);
    if (ids.length === 0) continue;
    const rows: number[][] = [];
    for (let i = 0; i < ids.length; i += 10) rows.push(ids.slice(i, i + 10));
    await contactSheet(path.join(dir, `${check}.png`), project, rows, 10);
  }
  console.log(`  drew ${others.length} near-duplicate groups without altered copies and each check's first findings into ${dir}`);
}

function figures(label: string, report: DoctorReport, planted: { original: string; copy: string; how: Alteration }[], nameToId: Map<string, number>): number[][] {
  const groupOf = new Map<number, { crossSplit: boolean; members: Set<number> }>();
  for (const f of report.findings.filter((f) => f.check === 'nearDuplicate')) {
    const group = { crossSplit: f.crossSplit, members: new Set(f.images.map((i) => i.id)) };
    for (const i of f.images) groupOf.set(i.id, group);
  }
  const found = new Map<Alteration, number>();
  for (const p of planted) {
    const g = groupOf.get(nameToId.get(p.copy)!);
    if (g?.crossSplit && g.members.has(nameToId.get(p.original)!)) found.set(p.how, (found.get(p.how) ?? 0) + 1);
  }
  const plantedIds = new Set(planted.flatMap((p) => [nameToId.get(p.original)!, nameToId.get(p.copy)!]));
  const others = report.images - plantedIds.size;
  const flaggedOthers = [...groupOf.keys()].filter((id) => !plantedIds.has(id)).length;
  const total = [...found.values()].reduce((a, b) => a + b, 0);
  console.log(`\n${label} (${report.backbone ?? 'no features'}; ${report.seconds.toFixed(1)} s, ${report.decoded} images read):`);
  console.log(`  altered copies reported as cross-split near-duplicates of their original: ${total} of ${planted.length}` + ` (${ALTERATIONS.map((a) => `${a} ${found.get(a) ?? 0}/20`).join(', ')})`);
  console.log(`  other images flagged as near-duplicates: ${flaggedOthers} of ${others} (${((100 * flaggedOthers) / others).toFixed(2)}%)`);
  console.log(`  checks: ${report.checks.map((c) => `${c.check} ${c.count}`).join(', ')}`);
  return report.findings.filter((f) => f.check === 'nearDuplicate' && !f.images.some((i) => plantedIds.has(i.id))).map((f) => f.images.map((i) => i.id));
}

const work = fs.mkdtempSync(path.join(values.dir ?? '/var/tmp', 'loupe-bench-doctor-'));
try {
  const images = path.join(work, 'images');
  const seed = Number(values.seed ?? 1);
  const trainFiles = subsetFolders(images, { train: 200, test: 100 }, seed);
  const pick = Array.from(permutation(trainFiles.length, seededRandom(16 + seed)).slice(0, 100), (i) => trainFiles[i]);
  const planted: { original: string; copy: string; how: Alteration }[] = [];
  for (const [k, file] of pick.entries()) {
    const how = ALTERATIONS[Math.floor(k / 20)];
    const cls = path.basename(path.dirname(file));
    const copy = `copy-${how}-${path.basename(file, '.jpg')}.${how === 'jpeg40' ? 'jpg' : 'png'}`;
    fs.writeFileSync(path.join(images, 'test', cls, copy), await alter(file, how));
    planted.push({ original: `train/${cls}/${path.basename(file)}`, copy: `test/${cls}/${copy}`, how });
  }
  const dir = path.join(work, 'cifar.loupe');
  if ((await main(['create', dir], quiet)) !== 0 || (await main(['import', dir, images], quiet)) !== 0) throw new Error('import failed');
  const project = Project.open(dir);
  try {
    const rows = liveImages(project.db);
    // CIFAR's file names repeat across classes and splits: an image is its split, class and name.
    const nameToId = new Map(rows.map((r) => [`${r.split}/${r.label}/${r.name}`, r.id]));
    console.log(`${rows.length} images (${rows.filter((r) => r.split === 'train').length} train, ${rows.filter((r) => r.split === 'test').length} test), ${planted.length} of them altered copies.`);
    figures('Perceptual hash alone', await runDoctor(project), planted, nameToId);

    const backbone = resolveBackbone('mobilenet_v1');
    const resolution = Number(values.resolution ?? 128);
    let started = performance.now();
    await ensureFeatures(project, backbone, resolution, rows.map((r) => ({ hash: r.hash, ext: r.ext })));
    console.log(`\nExtracted ${backbone.title} features at ${resolution} px in ${((performance.now() - started) / 1000).toFixed(1)} s.`);
    started = performance.now();
    const report = await runDoctor(project);
    const others = figures('Hash and cached features', report, planted, nameToId);
    if (values.sheets) await drawSheets(values.sheets, project, report, others);
  } finally {
    project.close();
  }
} finally {
  if (values.keep) console.log(`kept ${work}`);
  else fs.rmSync(work, { recursive: true, force: true });
}
