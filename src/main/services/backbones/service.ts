// What the front ends do with backbones: list them, download one, add one from this machine,
// and extract a project's features ahead of training (a background job while labeling goes on).

import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../../shared/errors';
import type { BackboneDownload, BackboneInfo, TrainConfig } from '../../../shared/types';
import type { Project } from '../../store/project';
import { downloadCopy } from './download';
import { onnxFeatureGraph, onnxValueNames } from '../onnx/surgery';
import { ensureFeatures, type FeaturePack } from './extract';
import { backboneAtPath, customBackbone, downloadableCopy, listBackbones, tfjsFiles } from './locate';
import { liveImageFiles } from './records';
import { loadRegistry, saveUserBackbone, userBackbones, type UserBackbone } from './registry';

export { listBackbones };

export async function downloadBackbone(
  name: string,
  options: { signal?: AbortSignal; onProgress?: (done: number, total: number | null) => void } = {},
): Promise<BackboneDownload> {
  const entry = loadRegistry().find((e) => e.id === name);
  if (!entry) throw new LoupeError('NOT_FOUND', `There is no backbone "${name}" in the registry (${loadRegistry().map((e) => e.id).join(', ')}).`);
  const copy = downloadableCopy(entry);
  if (!copy) {
    const official = entry.copies.find((c) => c.url);
    throw new LoupeError(
      'NOT_SUPPORTED',
      official
        ? `Loupe downloads only files it can verify, and the registry has no checksums for ${entry.title}'s official files yet. Fetch them from ${official.url} yourself and add the folder, or pin them (resources/BACKBONES.md).`
        : `${entry.title} has no download source.`,
    );
  }
  const started = performance.now();
  let bytes = 0;
  await downloadCopy(entry, copy, { signal: options.signal, onProgress: (d, t) => ((bytes = d), options.onProgress?.(d, t)) });
  const info = listBackbones().find((b) => b.name === entry.id)!;
  return { backbone: info, bytes, seconds: (performance.now() - started) / 1000 };
}

export interface AddRequest {
  path: string;
  name?: string;
  /** TF.js: the feature layer; ONNX: the output holding the features. */
  output?: string;
  size?: number;
  /** ONNX: the model's input is x * scale + offset for pixels x in [0, 1] (default 1 and 0). */
  scale?: number;
  offset?: number;
}

function layerNames(dir: string): string[] {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as { modelTopology?: Record<string, unknown> };
  let t = json.modelTopology ?? {};
  if (t.model_config) t = t.model_config as Record<string, unknown>;
  const config = t.config as { layers?: { name?: string; config?: { name?: string } }[] } | { name?: string; config?: { name?: string } }[];
  const layers = Array.isArray(config) ? config : (config?.layers ?? []);
  return layers.map((l) => l.config?.name ?? l.name ?? '').filter(Boolean);
}

/**
 * Adds a backbone from this machine. A folder holding a known copy is that registry backbone
 * (nothing to add); a TF.js model whose layers include a registry backbone's feature layer (the
 * official MobileNet fetched by hand) gets that backbone's preprocessing and feature layer.
 */
export async function addBackbone(request: AddRequest): Promise<BackboneInfo> {
  const target = path.resolve(request.path);
  if (!fs.existsSync(target)) throw new LoupeError('NOT_FOUND', `${target} does not exist.`);
  const isDir = fs.statSync(target).isDirectory();
  if (isDir) {
    const known = backboneAtPath(target);
    if (known.source === 'registry') return listBackbones().find((b) => b.name === known.name)!;
  }
  const name = request.name ?? path.basename(target).replace(/\.onnx$/i, '').replace(/[^\w.-]/g, '_');
  if (loadRegistry().some((e) => e.id === name)) throw new LoupeError('ALREADY_EXISTS', `"${name}" is the name of a registry backbone: choose another name.`);
  let user: UserBackbone;
  if (isDir) {
    tfjsFiles(target);
    const layers = layerNames(target);
    const entry = loadRegistry().find((e) => e.copies.some((c) => layers.includes(c.featureLayer)));
    const copy = entry?.copies.find((c) => layers.includes(c.featureLayer));
    const output = request.output ?? copy?.featureLayer ?? layers.at(-1);
    if (!output || !layers.includes(output)) throw new LoupeError('INVALID_INPUT', `The model in ${target} has no layer "${output}". Its layers: ${layers.slice(-8).join(', ')} ...`);
    user = {
      name,
      path: target,
      format: 'tfjs-layers',
      output,
      inputSize: request.size ?? entry?.inputSize ?? 224,
      preprocess: entry?.preprocess ?? { scale: 1, offset: 0 },
      addedAt: Date.now(),
    };
  } else if (target.toLowerCase().endsWith('.onnx')) {
    const values = onnxValueNames(target);
    if (!request.output || !values.includes(request.output)) {
      throw new LoupeError(
        'INVALID_INPUT',
        `${request.output ? `${target} computes no value named "${request.output}"` : 'Say which value of the ONNX model holds the features (--output NAME)'}; its last values: ${values.slice(-6).join(', ')}.`,
      );
    }
    user = {
      name,
      path: target,
      format: 'onnx',
      output: request.output,
      inputSize: request.size ?? 224,
      preprocess: { scale: request.scale ?? 1, offset: request.offset ?? 0 },
      addedAt: Date.now(),
    };
    await onnxFeatureGraph(target, user.output, user.inputSize, user.preprocess); // refuse a model that cannot run now, not at training
  } else {
    throw new LoupeError('INVALID_INPUT', `${target} is neither a TensorFlow.js model folder nor an .onnx file.`);
  }
  customBackbone(user, 'user'); // reads every file: refuse a broken model now, not at training
  if (userBackbones().some((u) => u.name === name && u.path !== target)) throw new LoupeError('ALREADY_EXISTS', `A backbone named "${name}" was already added from elsewhere.`);
  saveUserBackbone(user);
  return listBackbones().find((b) => b.name === name)!;
}

/** Every live image's features for the backbone a run would use (flipped copies of training images too where it would). */
export async function extractProjectFeatures(
  project: Project,
  config: TrainConfig,
  options: { signal?: AbortSignal; onProgress?: (done: number, total: number, phase: string) => void } = {},
): Promise<{ images: number; failed: number; seconds: number }> {
  const { prepareFeatures } = await import('../training/transfer');
  const started = performance.now();
  const rows = liveImageFiles(project.db);
  const items = rows.map((r) => ({ hash: r.hash, ext: r.ext, split: r.labeled ? r.split : 'unlabeled' }));
  const prepared = await prepareFeatures(project, config, items, options);
  const pack: FeaturePack = prepared.pack;
  return { images: rows.length - pack.failed.size, failed: pack.failed.size, seconds: (performance.now() - started) / 1000 };
}

export { ensureFeatures };
