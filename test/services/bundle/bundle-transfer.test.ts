// The training bundle of a transfer run (issue 19): MobileNet v1 (the real weights in
// ../shared/models) goes in as a JSON graph and one binary of its weights, hashed in the manifest;
// the bundle's torch interpreter (onnx_graph.py) gives onnxruntime's features on the same pixels;
// train.py trains Loupe's head on it under torchrun with 2 CPU processes and `loupe import-run`
// brings the model home (Evaluate, export parity); a graph with an operator the interpreter
// lacks is refused by name. The torchrun tests need Debian's python3-torch, as bundle.test.ts's.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIO } from '../../../src/main/cli/command';
import { main } from '../../../src/main/cli/index';
import { FeatureExtractor } from '../../../src/main/services/backbones/extract';
import { resolveBackbone } from '../../../src/main/services/backbones/locate';
import { graphFromOnnx, SUPPORTED_OPERATORS, type GraphJson } from '../../../src/main/services/bundle/backbone-graph';
import type { BundleManifest, BundleOutputs } from '../../../src/main/services/bundle/manifest';
import { evaluateRun, probsOf, runInfo } from '../../../src/main/services/evaluation/evaluate';
import { predictImages } from '../../../src/main/services/evaluation/run-predictions';
import { exportRun } from '../../../src/main/services/export/export';
import { encodeModel, valueInfo } from '../../../src/main/services/onnx/proto';
import { decodeToSpec } from '../../../src/main/services/pixels/pixel-pack';
import { runDetails } from '../../../src/main/services/training';
import { mediaRelPath } from '../../../src/main/store/media';
import { Project } from '../../../src/main/store/project';
import { makePatternProject } from '../training/train-helpers';
import { PYTHON, torchMissing, torchrunArgs } from './torch-python';

const MODELS = '/work/shared/models';
const missing = torchMissing();
const haveModels = fs.existsSync(MODELS);

function cliIO() {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = { out: (t) => out.push(t), err: (t) => err.push(t), json: (v) => out.push(JSON.stringify(v)), interrupted: new Promise(() => {}) };
  return { io, out, err };
}

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const saved = { ...process.env };
let work = '';
let root = '';
let bundle = '';
let manifest: BundleManifest;

describe('a features graph with an operator the interpreter lacks', () => {
  it('is refused, naming the operator', () => {
    const bytes = encodeModel({
      irVersion: 8,
      opset: 13,
      producerName: 'test',
      graph: {
        name: 'odd',
        input: [valueInfo('pixels', ['N', 4])],
        output: [valueInfo('features', ['N', 4])],
        node: [
          { opType: 'Relu', name: 'relu', input: ['pixels'], output: ['r'] },
          { opType: 'Einsum', name: 'odd/Einsum', input: ['r'], output: ['features'], attribute: [{ name: 'equation', s: Buffer.from('ni->ni'), type: 3 }] },
        ],
      },
    });
    expect(() => graphFromOnnx(bytes, { title: 'Odd net', inputShape: [4], features: 4, cutLayer: null })).toThrow(
      /Odd net's features graph uses an operator the training bundle's PyTorch interpreter does not run: Einsum\./,
    );
  });

  it('onnx_graph.py runs the operators Loupe lets through (the two lists are one)', () => {
    const py = fs.readFileSync(path.join(__dirname, '../../../src/main/services/bundle/python/onnx_graph.py'), 'utf8');
    const listed = [...py.match(/OPERATORS = \(([^)]*)\)/)![1].matchAll(/'(\w+)'/g)].map((m) => m[1]);
    expect(listed).toEqual([...SUPPORTED_OPERATORS]);
  });
});

describe.runIf(haveModels)('the training bundle of a transfer plan on MobileNet v1', () => {
  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-bundle-transfer-'));
    process.env.LOUPE_HOME = path.join(work, 'home');
    process.env.LOUPE_BACKBONE_DIR = MODELS;
    delete process.env.LOUPE_BACKBONE_REGISTRY;
    root = path.join(work, 'shapes.loupe');
    await makePatternProject(root, { perClass: 10, size: 16, seed: 7 });
    bundle = path.join(work, 'bundle');
    const { io, out, err } = cliIO();
    const code = await main(['export-training', root, '--backbone', 'mobilenet_v1', '--fine-tune', 'head', '--out', bundle, '--json'], io);
    expect(code, err.join('\n')).toBe(0);
    expect(JSON.parse(out[0])).toMatchObject({ arch: 'dense-head', backbone: 'MobileNet v1 1.0 (ImageNet)', images: { train: 24, val: 3, test: 3 } });
    manifest = JSON.parse(fs.readFileSync(path.join(bundle, 'manifest.json'), 'utf8')) as BundleManifest;
  }, 180_000);

  afterAll(() => {
    process.env = { ...saved };
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('holds the backbone as a JSON graph and its weights, hashed in the manifest, with the plan of the transfer run', () => {
    expect(manifest.config).toMatchObject({ arch: 'dense-head', width: 96, height: 96, channels: 3, backbone: { name: 'mobilenet_v1', resolution: 96, features: 1024, fineTune: { mode: 'head' } } });
    for (const rel of ['backbone.json', 'backbone.bin', 'onnx_graph.py', 'train.py', 'loupe_models.py']) expect(sha256(path.join(bundle, rel)), rel).toBe(manifest.files[rel]);
    const graph = JSON.parse(fs.readFileSync(path.join(bundle, 'backbone.json'), 'utf8')) as GraphJson;
    expect(graph).toMatchObject({ format: 'loupe-onnx-graph', input: 'pixels', output: 'features', inputShape: [96, 96, 3], features: 1024, cutValue: null });
    const ops = new Set(graph.nodes.map((n) => n.op));
    expect([...ops].sort()).toEqual(['Add', 'BatchNormalization', 'Clip', 'Conv', 'Flatten', 'GlobalAveragePool', 'Identity', 'Mul', 'Transpose']);
    // Every weight in the binary, where the JSON says: MobileNet v1 up to conv_pw_12 holds about 2.2 million floats.
    const bin = fs.statSync(path.join(bundle, 'backbone.bin')).size;
    const floats = Object.values(graph.tensors).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
    expect(floats).toBeGreaterThan(2_000_000);
    for (const t of Object.values(graph.tensors)) expect(t.offset + t.bytes).toBeLessThanOrEqual(bin);
  });

  it.skipIf(missing !== null && !process.env.CI)("the torch interpreter's features equal onnxruntime's on the same pixels (1e-4)", async () => {
    const project = Project.open(root);
    const images = project.db.prepare('SELECT hash, ext FROM images ORDER BY id LIMIT 4').all() as { hash: string; ext: string }[];
    project.close();
    const r = 96;
    const pixels = new Float32Array(images.length * r * r * 3);
    for (let i = 0; i < images.length; i++) pixels.set(await decodeToSpec(path.join(root, mediaRelPath(images[i].hash, images[i].ext)), { width: r, height: r, channels: 3, fit: 'cover' }), i * r * r * 3);
    const extractor = await FeatureExtractor.create(resolveBackbone('mobilenet_v1'), r);
    const expected = await extractor.run(pixels, images.length);
    await extractor.release();
    const input = path.join(work, 'pixels.f32');
    const output = path.join(work, 'features.f32');
    fs.writeFileSync(input, Buffer.from(pixels.buffer));
    const script = `
import sys, torch
sys.path.insert(0, sys.argv[1])
from onnx_graph import OnnxGraph, load_graph
spec, tensors = load_graph(sys.argv[1])
graph = OnnxGraph(spec, tensors).eval()
x = torch.frombuffer(bytearray(open(sys.argv[2], 'rb').read()), dtype=torch.float32).reshape(-1, ${r}, ${r}, 3)
with torch.no_grad():
    open(sys.argv[3], 'wb').write(graph(x).contiguous().numpy().tobytes())
`;
    const run = spawnSync(PYTHON, ['-c', script, bundle, input, output], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const got = new Float32Array(new Uint8Array(fs.readFileSync(output)).buffer);
    expect(got.length).toBe(expected.length);
    let worst = 0;
    got.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - expected[i]))));
    expect(Math.max(...expected)).toBeGreaterThan(0.1);
    expect(worst).toBeLessThan(1e-4);
  }, 120_000);

  describe.skipIf(missing !== null && !process.env.CI)(`train.py under torchrun, head only, and loupe import-run${missing ? ` (skipped: ${missing})` : ''}`, () => {
    let outputs: BundleOutputs;

    beforeAll(async () => {
      const run = spawnSync(
        PYTHON,
        [...(await torchrunArgs(2)), path.join(bundle, 'train.py'), '--epochs', '1', '--workers', '0'],
        { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' }, timeout: 300_000 },
      );
      expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
      expect(run.stdout).toMatch(/dense-head on MobileNet v1 1\.0 \(ImageNet\) \(96 px, fine-tuning: head\)/);
      outputs = JSON.parse(fs.readFileSync(path.join(bundle, 'outputs', 'outputs.json'), 'utf8')) as BundleOutputs;
    }, 360_000);

    it('trains the head on the frozen backbone with 2 CPU processes and brings it home: Evaluate sees it, export passes parity', async () => {
      expect(outputs.trainedOn).toMatchObject({ processes: 2, distributed: 'gloo', device: 'cpu' });
      expect(outputs.history).toHaveLength(1);
      const { io, out, err } = cliIO();
      expect(await main(['import-run', root, bundle, '--json'], io), err.join('\n')).toBe(0);
      const result = JSON.parse(out[0]) as { runId: number; testAccuracy: number; parity: { images: number; top1Agreement: number; maxAbsDiff: number } };
      expect(result.parity).toMatchObject({ images: 3, top1Agreement: 1 });
      expect(result.parity.maxAbsDiff).toBeLessThan(1e-4);
      const project = Project.open(root);
      try {
        const run = runDetails(project.db, result.runId);
        expect(run).toMatchObject({ status: 'completed', backend: 'pytorch', arch: 'dense-head', config: { backbone: { name: 'mobilenet_v1', fineTune: { mode: 'head' } } } });
        const evaluation = evaluateRun(project.db, result.runId, 'test');
        expect(evaluation.images).toBe(3);
        expect(evaluation.accuracy).toBeCloseTo(outputs.testAccuracy!, 10);
        // Predictions here run the imported ONNX model (backbone and head), not cached features through a head it does not have.
        const images = project.db.prepare("SELECT p.image_id AS imageId, i.hash, i.ext, p.probs FROM predictions p JOIN images i ON i.id = p.image_id WHERE p.run_id = ? AND p.split = 'val'").all(result.runId) as {
          imageId: number;
          hash: string;
          ext: string;
          probs: Buffer;
        }[];
        const predicted = await predictImages(project, runInfo(project.db, result.runId), images);
        const stored = images.flatMap((im) => Array.from(probsOf(im.probs)));
        expect(Math.max(...stored.map((p, i) => Math.abs(p - predicted.probs[i])))).toBeLessThan(1e-4);
        const exported = await exportRun(project, { runId: result.runId, format: 'onnx', dir: path.join(work, 'exports') });
        expect(exported.status).toBe('completed');
        expect(exported.parity).toMatchObject({ against: 'onnxruntime', images: 3, top1Agreement: 1 });
        expect(exported.parity!.maxAbsDiff).toBeLessThan(1e-4);
      } finally {
        project.close();
      }
    }, 120_000);
  });

  describe.skipIf(missing !== null && !process.env.CI)(`fine-tuning the last blocks under torchrun${missing ? ` (skipped: ${missing})` : ''}`, () => {
    let blocks = '';
    let plan: BundleManifest;

    beforeAll(async () => {
      blocks = path.join(work, 'blocks');
      const { io, err } = cliIO();
      expect(await main(['export-training', root, '--backbone', 'mobilenet_v1', '--fine-tune', 'blocks', '--out', blocks], io), err.join('\n')).toBe(0);
      plan = JSON.parse(fs.readFileSync(path.join(blocks, 'manifest.json'), 'utf8')) as BundleManifest;
      // One warm-up epoch of the head, then one with the blocks: one step each.
      const run = spawnSync(
        PYTHON,
        [...(await torchrunArgs(2)), path.join(blocks, 'train.py'), '--epochs', '2', '--head-epochs', '1', '--max-steps', '1', '--workers', '0'],
        { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' }, timeout: 300_000 },
      );
      expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
      expect(run.stdout).toMatch(/epoch 2: the backbone trains too \(blocks, at 0\.1 x the rate\)/);
    }, 420_000);

    it("trains only the weights after Loupe's cut layer, and the model comes home passing parity", async () => {
      const ft = plan.config.backbone!.fineTune!;
      expect(ft).toMatchObject({ mode: 'blocks', backboneLrScale: 0.1 });
      const graph = JSON.parse(fs.readFileSync(path.join(blocks, 'backbone.json'), 'utf8')) as GraphJson;
      expect(graph.cutValue).toMatch(new RegExp(`^${ft.cutLayer}/`));
      // Which backbone weights the checkpoint changed, against those the plan trains.
      const script = `
import json, sys, torch
sys.path.insert(0, sys.argv[1])
from onnx_graph import OnnxGraph, load_graph
spec, tensors = load_graph(sys.argv[1])
graph = OnnxGraph(spec, tensors, 'cut')
state = torch.load(sys.argv[1] + '/outputs/checkpoint.pt', map_location='cpu')['model']
changed = sorted(n for n, p in graph.named_parameters() if not torch.equal(p, state['backbone.' + n]))
names = {a: n for n, a in graph.slot.items()}
every = OnnxGraph(spec, tensors, 'all')
print(json.dumps({'changed': [names[a] for a in changed], 'planned': sorted(names[a] for a in graph.trainable_names), 'weights': len(list(graph.parameters())),
                  'all': len(every.trainable_names), 'head': len(OnnxGraph(spec, tensors).trainable_names)}))
`;
      const run = spawnSync(PYTHON, ['-c', script, blocks], { encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
      const { changed, planned, weights, ...modes } = JSON.parse(run.stdout) as { changed: string[]; planned: string[]; weights: number; all: number; head: number };
      // 'all' trains every weight (75: 25 kernels, 25 batch-norm scales and shifts each), 'head' none of the backbone's.
      expect(modes).toEqual({ all: weights, head: 0 });
      expect(weights).toBe(75);
      expect(planned.length).toBeGreaterThan(0);
      expect(planned.length).toBeLessThan(weights);
      expect(changed.sort()).toEqual([...planned].sort());
      const last = graph.nodes.filter((n) => n.op === 'Conv').at(-1)!;
      expect(planned).toContain(last.inputs[1]);
      expect(planned).not.toContain(graph.nodes.find((n) => n.op === 'Conv')!.inputs[1]);

      const { io, out, err } = cliIO();
      expect(await main(['import-run', root, blocks, '--json'], io), err.join('\n')).toBe(0);
      const result = JSON.parse(out[0]) as { runId: number; parity: { top1Agreement: number; maxAbsDiff: number } };
      expect(result.parity.top1Agreement).toBe(1);
      expect(result.parity.maxAbsDiff).toBeLessThan(1e-4);
    }, 120_000);
  });
});
