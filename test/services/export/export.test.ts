// Exports of a trained run, end to end: the files, the parity check that makes an export done
// (and fails it when the ONNX model is wrong), the sample code run on an export, names that try
// to leave the chosen folder, cancelling, `loupe export`, `loupe predict` (refusing damaged and
// foreign models) and the API.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { unzipSync } from 'fflate';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import type { ExportResult, PredictResult } from '../../../src/shared/types';
import { main } from '../../../src/main/cli/index';
import type { CliIO } from '../../../src/main/cli/command';
import { exportRun } from '../../../src/main/services/export/export';
import { cleanExportName, exportNameProblem } from '../../../src/main/services/export/names';
import { listExports } from '../../../src/main/services/export/records';
import { mediaRelPath } from '../../../src/main/store/media';
import { Project } from '../../../src/main/store/project';
import { client, finished } from '../../api/api-helpers';
import { makeStudio, repoRoot, snapshotDir, tempDir } from '../../helpers';
import { bombPng, image } from '../import/import-helpers';
import { PATTERNS } from '../training/train-helpers';
import { sharedPatternRun } from './export-helpers';

const { onnx } = onnxProto;
const shapes = sharedPatternRun('loupe-export-');

/** Test images the run got right, with the class and the confidence it stored for them. */
function correctTestImages(project: Project): { file: string; label: string; confidence: number }[] {
  const rows = project.db
    .prepare(
      `SELECT i.hash, i.ext, p.true_index AS t, p.confidence FROM predictions p JOIN images i ON i.id = p.image_id
        WHERE p.run_id = ? AND p.split = 'test' AND p.predicted_index = p.true_index ORDER BY p.confidence DESC`,
    )
    .all(shapes.runId) as { hash: string; ext: string; t: number; confidence: number }[];
  return rows.map((r) => ({ file: path.join(shapes.root, mediaRelPath(r.hash, r.ext)), label: PATTERNS[r.t], confidence: r.confidence }));
}

function cliIO() {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = { out: (t) => out.push(t), err: (t) => err.push(t), json: (v) => out.push(JSON.stringify(v)), interrupted: new Promise(() => {}) };
  return { io, out, err };
}

describe('export', () => {
  it('writes ONNX, TFLite and TF.js with labels, preprocessing, a model card and samples, checked against TF.js', async () => {
    const project = shapes.open();
    const dir = path.join(tempDir(), 'exports');
    const phases = new Set<string>();
    const result = await exportRun(project, { runId: shapes.runId, format: 'all', dir, zip: true }, { onProgress: (_d, _t, phase) => phases.add(phase) });

    expect(result.path).toBe(path.join(dir, `shapes-run-${shapes.runId}`));
    expect(result.status).toBe('completed');
    expect(result.files).toEqual([
      'labels.txt',
      'model-card.md',
      'model.onnx',
      'model.tflite',
      'preprocess.json',
      'samples/android/Classifier.kt',
      'samples/predict-tfjs.mjs',
      'samples/predict.mjs',
      'samples/predict.py',
      'samples/predict_tflite.py',
      'samples/raspberry-pi/classify.py',
      'samples/web/index.html',
      'tfjs/model.json',
      'tfjs/weights.bin',
    ]);
    // `all` is every float format: the TFLite file is checked in the interpreter too.
    expect(result.tflite).toMatchObject({ parity: { against: 'tflite', images: 12, top1Agreement: 1 }, int8: null });
    expect(result.tflite!.parity.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    // Up to 200 test images: this run has 12.
    expect(result.parity).toMatchObject({ against: 'onnxruntime', images: 12, top1Agreement: 1 });
    expect(result.parity!.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    expect(result.paritySplit).toBe('test');
    expect([...phases]).toEqual(expect.arrayContaining(['Converting to ONNX', 'Checking predictions', 'Writing files', 'Zipping']));
    // Only the export folder and its zip: no staging folder left behind.
    expect(fs.readdirSync(dir).sort()).toEqual([`shapes-run-${shapes.runId}`, `shapes-run-${shapes.runId}.zip`]);

    const read = (f: string) => fs.readFileSync(path.join(result.path, f), 'utf8');
    expect(read('labels.txt')).toBe('horizontal\nvertical\ndiagonal\n');
    expect(JSON.parse(read('preprocess.json'))).toMatchObject({
      width: 16,
      height: 16,
      channels: 3,
      resize: 'cover',
      layout: 'NHWC',
      normalization: { scale: 1 / 255, offset: 0, inputRange: [0, 255] },
      onnx: { file: 'model.onnx', input: 'pixels', output: 'probabilities', normalizationInGraph: true },
      tfjs: { file: 'tfjs/model.json', normalizationInGraph: false },
      tflite: { file: 'model.tflite', input: 'pixels', output: 'probabilities', shape: [1, 16, 16, 3], normalizationInGraph: true },
    });
    const card = read('model-card.md');
    expect(card).toContain(`# \`shapes\` — run #${shapes.runId} (Small CNN)`);
    expect(card).toContain('96 training, 12 validation and 12 test images in 3 classes');
    expect(card).toMatch(/\| `horizontal` \| ([\d.]+%|–) \| [\d.]+% \| [\d.]+% \| 4 \|/);
    expect(card).toMatch(/on 12 test images and compared with TensorFlow.js \(wasm backend\) on the same pixels: top-1 agreement 100.0%, largest probability difference [\d.]+e-\d+ \(limit 1e-4\)/);
    expect(card).toContain(new Date().toISOString().slice(0, 10));

    const zip = unzipSync(new Uint8Array(fs.readFileSync(result.zipPath!)));
    expect(Object.keys(zip).sort()).toEqual(result.files.map((f) => `shapes-run-${shapes.runId}/${f}`));
    expect(Buffer.from(zip[`shapes-run-${shapes.runId}/model.onnx`]).equals(fs.readFileSync(path.join(result.path, 'model.onnx')))).toBe(true);

    const [record] = listExports(project.db);
    expect(record).toMatchObject({ runId: shapes.runId, format: 'all', path: result.path, zipPath: result.zipPath, status: 'completed', error: null });
    expect(record.parity).toEqual(result.parity);
  });

  it('ships a Node sample that prints the right class for an image (and Python and web samples that parse)', async () => {
    const project = shapes.open();
    const dir = path.join(tempDir(), 'deploy');
    const result = await exportRun(project, { runId: shapes.runId, format: 'onnx', dir, name: 'shapes-model' });
    const [image] = correctTestImages(project);
    expect(image.confidence).toBeGreaterThan(0.5);
    // Where the user installed onnxruntime-node and sharp.
    fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    const run = spawnSync(process.execPath, [path.join(result.path, 'samples', 'predict.mjs'), image.file, '--top', '2'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    const [label, probability] = lines[0].split('\t');
    expect(label).toBe(image.label);
    // The sample preprocesses exactly as training did: the same confidence the run recorded.
    expect(Math.abs(parseFloat(probability) - image.confidence * 100)).toBeLessThan(0.02);

    const python = spawnSync('python3', ['-m', 'py_compile', path.join(result.path, 'samples', 'predict.py')], { encoding: 'utf8' });
    if (!python.error) expect(python.status, python.stderr).toBe(0);
    const html = fs.readFileSync(path.join(result.path, 'samples', 'web', 'index.html'), 'utf8');
    const script = /<script type="module">([\s\S]*?)<\/script>/.exec(html)![1];
    const scriptFile = path.join(tempDir(), 'web-sample.mjs');
    fs.writeFileSync(scriptFile, script);
    expect(spawnSync(process.execPath, ['--check', scriptFile], { encoding: 'utf8' }).status).toBe(0);
    expect(html).toMatch(/onnxruntime-web@\d+\.\d+\.\d+\/dist\/ort\.min\.js/);
  });

  it('checks a TF.js-only export by loading its files with tf.loadLayersModel', async () => {
    const project = shapes.open();
    const dir = tempDir();
    const result = await exportRun(project, { runId: shapes.runId, format: 'tfjs', dir, name: 'web-model' });
    expect(result.parity).toMatchObject({ against: 'tfjs', images: 12, top1Agreement: 1, maxAbsDiff: 0 });
    expect(fs.existsSync(path.join(result.path, 'model.onnx'))).toBe(false);
    expect(result.files).toEqual(['labels.txt', 'model-card.md', 'preprocess.json', 'samples/predict-tfjs.mjs', 'tfjs/model.json', 'tfjs/weights.bin']);
    const { io, err } = cliIO();
    expect(await main(['predict', result.path, correctTestImages(project)[0].file], io)).toBe(1);
    expect(err.join('\n')).toContain('holds only a TensorFlow.js model; predicting needs model.onnx');
  });

  it('refuses names that would leave the chosen folder, and cleans names it makes itself', async () => {
    const project = shapes.open();
    const parent = tempDir();
    const dir = path.join(parent, 'chosen');
    fs.mkdirSync(dir);
    const before = snapshotDir(parent);
    for (const name of ['../escape', '..', 'a/b', 'a\\b', '/etc/cron.d', '..\\..\\x', '.hidden', 'CON', 'lpt1.txt', 'x\u0000y', 'ends.', 'a\u202egnp.exe']) {
      await expect(exportRun(project, { runId: shapes.runId, format: 'onnx', dir, name }), name).rejects.toMatchObject({ code: 'INVALID_PATH' });
    }
    expect(snapshotDir(parent)).toEqual(before);
    expect(fs.readdirSync(parent)).toEqual(['chosen']);
    expect(listExports(project.db).filter((e) => e.path.includes('escape'))).toEqual([]);
    expect(exportNameProblem('pets-v2 (final)')).toBeNull();
    expect(cleanExportName('../../etc/passwd')).toBe('etc-passwd');
    expect(cleanExportName('My pets: cats/dogs')).toBe('My-pets-cats-dogs');
    expect(cleanExportName('...')).toBe('model');
    expect(exportNameProblem(cleanExportName('con'))).toBeNull();
  });

  it('fails the export with a clear message when the ONNX model does not reproduce TF.js, and writes nothing', async () => {
    const project = shapes.open();
    const dir = tempDir();
    // Flip the sign of the last layer's kernel: a converter bug of the kind the check is there to
    // catch (a transposed or mis-signed weight), which moves the probabilities however confident
    // the model is (a shifted bias hides in a saturated softmax).
    const tamper = (bytes: Uint8Array) => {
      const model = onnx.ModelProto.decode(bytes);
      const kernels = model.graph!.initializer!.filter((t) => t.name!.endsWith('/kernel'));
      const last = kernels[kernels.length - 1];
      const values = new Float32Array(new Uint8Array(last.rawData!).slice().buffer).map((v) => -v);
      last.rawData = new Uint8Array(values.buffer);
      return onnx.ModelProto.encode(model).finish();
    };
    await expect(exportRun(project, { runId: shapes.runId, format: 'all', dir, zip: true }, { transformOnnx: tamper })).rejects.toThrow(
      /^The ONNX model \(through onnxruntime\) did not reproduce TensorFlow.js's predictions on 12 images: .*probabilities differ by up to [\d.]+e[-+]\d+ \(allowed: 1e-4\)\. The export was not written\.$/,
    );
    expect(fs.readdirSync(dir)).toEqual([]);
    const [record] = listExports(project.db);
    expect(record.status).toBe('failed');
    expect(record.error).toMatch(/did not reproduce/);
    expect(record.parity!.maxAbsDiff).toBeGreaterThan(1e-4);
  });

  it('cancels between steps and leaves nothing behind', async () => {
    const project = shapes.open();
    const dir = tempDir();
    const controller = new AbortController();
    const count = listExports(project.db).length;
    await expect(
      exportRun(project, { runId: shapes.runId, format: 'all', dir, zip: true }, { signal: controller.signal, onProgress: (_d, _t, phase) => phase === 'Checking predictions' && controller.abort() }),
    ).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(listExports(project.db)).toHaveLength(count);
  });
});

describe('loupe export and loupe predict', () => {
  it('exports from the command line and predicts with the folder or its model.onnx alone', async () => {
    const out = tempDir();
    const exported = cliIO();
    expect(await main(['export', shapes.root, '--format', 'onnx', '--out', out, '--json'], exported.io)).toBe(0);
    const result = JSON.parse(exported.out[0]) as ExportResult;
    expect(result).toMatchObject({ runId: shapes.runId, format: 'onnx', status: 'completed', paritySplit: 'test' });

    const project = shapes.open();
    const images = correctTestImages(project).slice(0, 3);
    project.close();
    const predicted = cliIO();
    expect(await main(['predict', result.path, ...images.map((i) => i.file), '--top', '2', '--json'], predicted.io)).toBe(0);
    const byFolder = JSON.parse(predicted.out[0]) as PredictResult;
    expect(byFolder.provider).toBe('cpu');
    expect(byFolder.labels).toEqual(['horizontal', 'vertical', 'diagonal']);
    expect(byFolder.predictions.map((p) => p.top[0].label)).toEqual(images.map((i) => i.label));
    expect(byFolder.predictions.every((p) => p.top.length === 2 && p.error === null)).toBe(true);
    byFolder.predictions.forEach((p, i) => expect(Math.abs(p.top[0].probability - images[i].confidence)).toBeLessThan(1e-4));

    // model.onnx on its own carries its labels and preprocessing.
    const alone = path.join(tempDir(), 'model.onnx');
    fs.copyFileSync(path.join(result.path, 'model.onnx'), alone);
    const text = cliIO();
    expect(await main(['predict', alone, images[0].file, path.join(out, 'missing.png')], text.io)).toBe(1);
    expect(text.out).toEqual([expect.stringMatching(new RegExp(`^${images[0].file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\t${images[0].label} \\d+\\.\\d%`))]);
    expect(text.err.join('\n')).toContain('missing.png: The file does not exist.');
  });

  it('refuses a damaged or foreign model.onnx with a clear message', async () => {
    const dir = tempDir();
    const image = path.join(dir, 'image.png');
    fs.copyFileSync(fs.readdirSync(path.join(shapes.root, 'media'), { recursive: true }).map((f) => path.join(shapes.root, 'media', String(f))).find((f) => f.endsWith('.png'))!, image);
    const project = shapes.open();
    const good = await exportRun(project, { runId: shapes.runId, format: 'onnx', dir, name: 'good' });
    const bytes = fs.readFileSync(path.join(good.path, 'model.onnx'));
    const write = (name: string, data: Uint8Array) => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, data);
      return file;
    };
    const foreign = onnx.ModelProto.encode(
      onnx.ModelProto.create({
        irVersion: 8,
        producerName: 'pytorch',
        opsetImport: [{ domain: '', version: 17 }],
        graph: {
          name: 'g',
          node: [{ opType: 'Relu', input: ['x'], output: ['y'] }],
          input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 10 }] } } } }],
          output: [{ name: 'y', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 10 }] } } } }],
        },
      }),
    ).finish();
    const cases: [string, RegExp][] = [
      [write('random.onnx', Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)), /random\.onnx is damaged or not an ONNX model/],
      [write('truncated.onnx', bytes.subarray(0, Math.floor(bytes.length / 2))), /truncated\.onnx is damaged or not an ONNX model/],
      [write('empty.onnx', new Uint8Array(0)), /empty\.onnx is damaged or not an ONNX model/],
      [write('foreign.onnx', foreign), /foreign\.onnx is not a model Loupe exported \(its producer is "pytorch"\): it carries no labels or preprocessing/],
    ];
    for (const [file, message] of cases) {
      const { io, out, err } = cliIO();
      expect(await main(['predict', file, image], io), file).toBe(1);
      expect(out).toEqual([]);
      expect(err.join('\n')).toMatch(message);
    }
    // A foreign model beside someone's preprocess.json and labels.txt must still fit them.
    const beside = path.join(dir, 'beside');
    fs.mkdirSync(beside);
    fs.copyFileSync(path.join(good.path, 'preprocess.json'), path.join(beside, 'preprocess.json'));
    fs.copyFileSync(path.join(good.path, 'labels.txt'), path.join(beside, 'labels.txt'));
    fs.writeFileSync(path.join(beside, 'model.onnx'), foreign);
    const { io, err } = cliIO();
    expect(await main(['predict', beside, image], io)).toBe(1);
    expect(err.join('\n')).toMatch(/does not fit its labels and preprocessing: it takes \[1, 10\] and gives \[1, 10\], where a 16x16x3 classifier of 3 classes takes \[N, 16, 16, 3\]/);
  });
});

describe('export and predict over the API', () => {
  it('exports as a job and predicts with a run or an exported model', async () => {
    const studio = makeStudio();
    const c = client(studio);
    await c.api.openProject({ path: shapes.root });
    const dir = tempDir();
    await expect(c.api.startExport({ runId: shapes.runId, format: 'onnx', dir, name: '../out' })).rejects.toMatchObject({ code: 'INVALID_PATH' });
    await expect(c.api.startExport({ runId: 999, format: 'onnx', dir })).rejects.toMatchObject({ code: 'NOT_FOUND' });

    const started = await c.api.startExport({ format: 'onnx', dir });
    expect(started.path).toBe(path.join(dir, `shapes-run-${shapes.runId}`));
    const job = await finished(c, started.jobId);
    expect(job.status).toBe('completed');
    expect((job.result as ExportResult).parity!.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    expect(c.events.some((e) => e.name === 'onJobProgress' && (e.payload as { phase: string }).phase === 'Checking predictions')).toBe(true);
    expect((await c.api.listExports({}))[0]).toMatchObject({ id: started.exportId, status: 'completed', path: started.path });

    const images = correctTestImages(c.session.requireProject()).slice(0, 2);
    const byRun = await c.api.predictPaths({ model: { runId: shapes.runId }, paths: images.map((i) => i.file), top: 3 });
    expect(byRun.model).toBe(`run #${shapes.runId}`);
    expect(byRun.predictions.map((p) => p.top[0].label)).toEqual(images.map((i) => i.label));
    expect(byRun.predictions[0].top).toHaveLength(3);
    const whole = await image('png', { width: 64, height: 64, seed: 3 });
    const cutPng = whole.subarray(0, Math.floor(whole.length * 0.6));
    const uploaded = await c.api.predictImages({
      model: { path: started.path },
      images: images.map((i) => ({ name: path.basename(i.file), data: fs.readFileSync(i.file).toString('base64') })).concat([
          { name: 'notes.txt', data: Buffer.from('hello').toString('base64') },
          // A PNG whose header claims 0 x 0 pixels, and one cut off: refused as the import refuses them.
          { name: 'empty.png', data: bombPng(0, 0).toString('base64') },
          { name: 'cut.png', data: cutPng.toString('base64') },
        ]),
    });
    expect(uploaded.predictions.slice(0, 2).map((p) => p.top[0].label)).toEqual(images.map((i) => i.label));
    uploaded.predictions.slice(0, 2).forEach((p, i) => expect(Math.abs(p.top[0].probability - byRun.predictions[i].top[0].probability)).toBeLessThan(1e-6));
    expect(uploaded.predictions[2]).toMatchObject({ name: 'notes.txt', top: [], error: 'Not an image Loupe can read.' });
    expect(uploaded.predictions[3]).toMatchObject({ name: 'empty.png', top: [], error: "The PNG file's header is damaged: it declares 0×0 pixels." });
    expect(uploaded.predictions[4]).toMatchObject({ name: 'cut.png', top: [], error: 'The PNG file is truncated: it ends before its image data does.' });
  });
});
