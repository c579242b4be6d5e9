// A tiny MobileNet-shaped backbone made by the tests (random, seeded weights; a few KB): the
// whole transfer path runs on it in seconds. It is saved in TF.js layers format as a "full"
// model (with a classifier on top, cut at a configured layer like the official MobileNet), and
// described by a registry of its own whose checksums are the files' real ones.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import onnxProto from 'onnx-proto';
import { seededRandom } from '../../../src/main/services/rng';

export const TINY_ID = 'tinynet';
export const TINY_FEATURE_LAYER = 'conv_pw_2_relu';

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Builds the tiny backbone (input 32x32x3, 24 features at conv_pw_2_relu) and saves it into `dir`. */
export async function makeTinyBackbone(dir: string, seed = 1, name = 'tinynet'): Promise<void> {
  await tf.setBackend('cpu');
  Math.random = seededRandom(seed);
  const relu6 = (name: string) => tf.layers.activation({ activation: 'relu6', name });
  const input = tf.input({ shape: [32, 32, 3], name: 'input_1' });
  let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'conv1' }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'conv1_bn' }).apply(x) as tf.SymbolicTensor;
  x = relu6('conv1_relu').apply(x) as tf.SymbolicTensor;
  for (const [i, filters, stride] of [[1, 16, 1], [2, 24, 2]] as const) {
    x = tf.layers.depthwiseConv2d({ kernelSize: 3, strides: stride, padding: 'same', useBias: false, name: `conv_dw_${i}` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ name: `conv_dw_${i}_bn` }).apply(x) as tf.SymbolicTensor;
    x = relu6(`conv_dw_${i}_relu`).apply(x) as tf.SymbolicTensor;
    x = tf.layers.conv2d({ filters, kernelSize: 1, useBias: false, name: `conv_pw_${i}` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ name: `conv_pw_${i}_bn` }).apply(x) as tf.SymbolicTensor;
    x = relu6(`conv_pw_${i}_relu`).apply(x) as tf.SymbolicTensor;
  }
  x = tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d_1' }).apply(x) as tf.SymbolicTensor;
  const output = tf.layers.dense({ units: 7, activation: 'softmax', name: 'conv_preds' }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: output, name });
  // Batch-norm statistics that are not the identity, so the converter's handling shows.
  for (const layer of model.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
    layer.setWeights(layer.getWeights().map((w, i) => tf.add(tf.mul(tf.randomUniform(w.shape, 0, 1), i === 3 ? 1 : 0.2), i === 3 ? 0.5 : 0)));
  }
  fs.mkdirSync(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weights = artifacts.weightData as ArrayBuffer;
      fs.writeFileSync(path.join(dir, 'group1-shard1of1'), Buffer.from(weights));
      const json = { modelTopology: artifacts.modelTopology, format: 'layers-model', weightsManifest: [{ paths: ['group1-shard1of1'], weights: artifacts.weightSpecs }] };
      fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  model.dispose();
}

/** A registry whose only backbone is the tiny one at `dir`, downloadable from `url` (a local server). */
export function writeTinyRegistry(file: string, dir: string, url = 'http://127.0.0.1:9/'): void {
  const files = ['model.json', 'group1-shard1of1'].map((p) => ({ path: p, sha256: sha256(path.join(dir, p)), bytes: fs.statSync(path.join(dir, p)).size }));
  const registry = {
    version: 1,
    backbones: [
      {
        id: TINY_ID,
        title: 'TinyNet',
        description: 'A tiny MobileNet-shaped test backbone.',
        license: 'MIT',
        format: 'tfjs-layers',
        inputSize: 32,
        channels: 3,
        preprocess: { scale: 2, offset: -1 },
        resolutions: [16, 24, 32],
        copies: [{ name: 'official', title: 'the test release', url, featureLayer: TINY_FEATURE_LAYER, features: 24, bytes: files.reduce((n, f) => n + f.bytes, 0), files }],
      },
    ],
  };
  fs.writeFileSync(file, JSON.stringify(registry, null, 2));
}

export interface FileServer {
  url: string;
  /** Requests seen: path and Range header. */
  requests: { path: string; range: string | null }[];
  /** Make the next response to `path` stop after `bytes` bytes (a dropped connection). */
  cutNext(path: string, bytes: number): void;
  /** Make the next response to `path` send `bytes` bytes, then hang (a stalled connection). */
  stallNext(path: string, bytes: number): void;
  close(): Promise<void>;
}

/** Serves the files of `dir` over HTTP on 127.0.0.1, honouring Range requests; `status`: a broken mirror answering every request with it. */
export async function serveFolder(dir: string, options: { status?: number } = {}): Promise<FileServer> {
  const requests: FileServer['requests'] = [];
  const cuts = new Map<string, number>();
  const stalls = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
    requests.push({ path: rel, range: req.headers.range ?? null });
    if (options.status) {
      res.writeHead(options.status).end('broken mirror');
      return;
    }
    const file = path.join(dir, rel);
    if (!rel || rel.includes('..') || !fs.existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    const data = fs.readFileSync(file);
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m) start = Number(m[1]);
    if (start >= data.length && start > 0) {
      res.writeHead(416).end();
      return;
    }
    const body = data.subarray(start);
    res.writeHead(m ? 206 : 200, { 'content-length': body.length, ...(m ? { 'content-range': `bytes ${start}-${data.length - 1}/${data.length}` } : {}) });
    const stall = stalls.get(rel);
    if (stall !== undefined) {
      stalls.delete(rel);
      res.write(body.subarray(0, stall));
      return;
    }
    const cut = cuts.get(rel);
    if (cut !== undefined) {
      cuts.delete(rel);
      res.write(body.subarray(0, cut), () => res.destroy());
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    cutNext: (p, bytes) => cuts.set(p, bytes),
    stallNext: (p, bytes) => stalls.set(p, bytes),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * A tiny ONNX image model laid out like most exported ones (NCHW input [N, 3, 16, 16], as from
 * PyTorch): conv 3x3 (8 maps), ReLU (`relu_out`, the feature map to use), pooling, a dense
 * classifier. Written with onnx-proto directly, so it is nothing Loupe's exporter made.
 */
export function writeTinyOnnx(file: string, seed = 1): void {
  const random = seededRandom(seed);
  const T = onnxProto.onnx.TensorProto.DataType.FLOAT;
  const floats = (name: string, dims: number[]) => ({ name, dataType: T, dims, floatData: Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => random() - 0.5) });
  const info = (name: string, dims: (number | string)[]) => ({
    name,
    type: { tensorType: { elemType: T, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  });
  const model = onnxProto.onnx.ModelProto.create({
    irVersion: 7,
    producerName: 'someone-else',
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'tiny_nchw',
      input: [info('image', ['batch', 3, 16, 16])],
      output: [info('logits', ['batch', 5])],
      initializer: [floats('w_conv', [8, 3, 3, 3]), floats('b_conv', [8]), floats('w_fc', [8, 5]), floats('b_fc', [5])],
      node: [
        { opType: 'Conv', input: ['image', 'w_conv', 'b_conv'], output: ['conv_out'], name: 'conv', attribute: [{ name: 'pads', type: 7, ints: [1, 1, 1, 1] }] },
        { opType: 'Relu', input: ['conv_out'], output: ['relu_out'], name: 'relu' },
        { opType: 'GlobalAveragePool', input: ['relu_out'], output: ['pooled'], name: 'pool' },
        { opType: 'Flatten', input: ['pooled'], output: ['flat'], name: 'flatten' },
        { opType: 'Gemm', input: ['flat', 'w_fc', 'b_fc'], output: ['logits'], name: 'fc' },
      ],
    },
  });
  fs.writeFileSync(file, onnxProto.onnx.ModelProto.encode(model).finish());
}

export const ONNX_ID = 'tinyonnx';
export const ONNX_FILE = 'tiny_Opset13.onnx';

/**
 * A registry whose only backbone is an ONNX file, content-addressed like the zoo's entries: one
 * file by sha256 and size, served by `mirrors` in order. Its feature value is named (relu_out),
 * so features can be extracted without automatic discovery.
 */
export function writeOnnxRegistry(file: string, onnxFile: string, mirrors: string[]): void {
  const bytes = fs.statSync(onnxFile).size;
  const registry = {
    version: 1,
    backbones: [
      {
        id: ONNX_ID,
        title: 'TinyOnnx',
        description: 'A tiny ONNX test backbone.',
        license: 'MIT',
        format: 'onnx',
        inputSize: 16,
        channels: 3,
        preprocess: { scale: [4.366812227074235, 4.464285714285714, 4.444444444444445], offset: [-2.1179039301310043, -2.0357142857142856, -1.8044444444444445] },
        resolutions: [16],
        imagenetTop1: 61.5,
        copies: [{ name: 'official', title: 'the test zoo file', mirrors, featureLayer: 'relu_out', features: 8, bytes, files: [{ path: ONNX_FILE, sha256: sha256(onnxFile), bytes }] }],
      },
    ],
  };
  fs.writeFileSync(file, JSON.stringify(registry, null, 2));
}
