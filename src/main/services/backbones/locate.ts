// Finding a usable copy of a backbone on this machine, and proving it is the one the registry
// means. Copies are content-addressed: a TF.js copy is recognised by the sha256 of its model.json
// and every other file must match too; an ONNX copy is its one file, recognised by size and
// sha256. A damaged or altered file is refused with its name, never used. Where Loupe looks, in
// order: LOUPE_BACKBONE_DIR (tests and benchmarks point it at ../shared/models), official files
// the user added from elsewhere (recognised by hash, see registry.ts LocatedCopy), the app data
// folder (downloads), then copies bundled with a packaged build (resources/backbones/).

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../../shared/errors';
import { backboneSize } from '../../../shared/backbone-text';
import type { BackboneInfo } from '../../../shared/types';
import { packageRoot } from '../../version';
import { backbonesHome, loadRegistry, locatedCopies, userBackbones, type BackboneCopy, type BackboneEntry, type Preprocess, type UserBackbone } from './registry';
import { readSpeeds } from './speed';

/** A backbone ready to extract features with: which files, which layer, which preprocessing. */
export interface ResolvedBackbone {
  name: string;
  title: string;
  source: 'registry' | 'user' | 'path';
  format: 'tfjs-layers' | 'onnx';
  copy: string;
  /** The copy's folder (TF.js) or the .onnx file. */
  location: string;
  /** TF.js: the layer whose (pooled) output is the features; ONNX: the value's name, or null: found automatically. */
  featureLayer: string | null;
  /** Known from the registry; null for a user's model until it has been read. */
  features: number | null;
  inputSize: number;
  resolutions: number[];
  preprocess: Preprocess;
  license: string;
  /** Changes whenever the files, the feature layer or the preprocessing do. */
  fingerprint: string;
  /** The files matched checksums the registry lists (false: a user's own model). */
  verified: boolean;
}

const hashes = new Map<string, string>();

/** sha256 of a file, remembered while its size and modification time stay the same. */
export function fileSha256(file: string): string {
  const stat = fs.statSync(file);
  const key = `${file}:${stat.size}:${stat.mtimeMs}`;
  let hex = hashes.get(key);
  if (!hex) {
    hex = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    hashes.set(key, hex);
  }
  return hex;
}

function fingerprintOf(parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16);
}

function searchDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.LOUPE_BACKBONE_DIR ?? '').split(path.delimiter).filter(Boolean).map((d) => path.resolve(d));
}

/** An ONNX copy's one file name. */
function onnxName(copy: BackboneCopy): string {
  return copy.files[0].path;
}

/**
 * Where a copy of `entry` may lie, best first (they need not exist): folders for a TF.js copy,
 * files for an ONNX copy. `copy` names the copy a place is meant for (null: any of them).
 */
export function candidates(entry: BackboneEntry): { location: string; copy: BackboneCopy | null }[] {
  const out: { location: string; copy: BackboneCopy | null }[] = [];
  const at = (dir: string, copy: BackboneCopy) => ({ location: entry.format === 'onnx' ? path.join(dir, onnxName(copy)) : dir, copy });
  for (const base of searchDirs()) {
    for (const copy of entry.copies) {
      if (copy.folder) out.push(at(path.join(base, copy.folder), copy));
      out.push(at(path.join(base, entry.id, copy.name), copy));
    }
    if (entry.format === 'onnx') {
      // The file as downloaded by hand: in a folder named for the backbone, or loose.
      for (const copy of entry.copies) out.push(at(path.join(base, entry.id), copy), at(base, copy));
    } else {
      out.push({ location: path.join(base, entry.id), copy: null });
    }
  }
  for (const located of locatedCopies().filter((l) => l.id === entry.id)) {
    out.push({ location: located.path, copy: entry.copies.find((c) => c.name === located.copy) ?? null });
  }
  for (const copy of entry.copies) out.push(at(path.join(backbonesHome(), entry.id, copy.name), copy));
  for (const copy of entry.copies) out.push(at(path.join(packageRoot(), 'resources', 'backbones', entry.id, copy.name), copy));
  return out;
}

export type Identified = { ok: true; backbone: ResolvedBackbone } | { ok: false; problem: string | null };

function resolvedFrom(entry: BackboneEntry, copy: BackboneCopy, location: string): ResolvedBackbone {
  return {
    name: entry.id,
    title: entry.title,
    source: 'registry',
    format: entry.format,
    copy: copy.name,
    location,
    featureLayer: copy.featureLayer,
    features: copy.features,
    inputSize: entry.inputSize,
    resolutions: entry.resolutions,
    preprocess: entry.preprocess,
    license: entry.license,
    fingerprint: fingerprintOf([entry.id, copy.name, copy.featureLayer, entry.preprocess, copy.files.map((f) => f.sha256)]),
    verified: true,
  };
}

/** Checks every file of `copy` in `dir`; the first problem, for people, or null when all match. */
function verifyCopy(entry: BackboneEntry, copy: BackboneCopy, dir: string): string | null {
  for (const f of copy.files) {
    const file = path.join(dir, f.path);
    if (!fs.existsSync(file)) return `${entry.title} at ${dir} is incomplete: ${f.path} is missing.`;
    if (f.sha256 === null) return `${entry.title} (${copy.title}) has no pinned checksums, so Loupe cannot verify ${dir} (see resources/BACKBONES.md).`;
    if (fileSha256(file) !== f.sha256) {
      return `${entry.title} at ${dir} is damaged: ${f.path} does not match its checksum (sha256). Download it again or replace that file.`;
    }
  }
  return null;
}

/** The copy of an ONNX backbone a file is: its size, then its sha256, match the copy's pinned file. */
function onnxCopyOf(entry: BackboneEntry, file: string): BackboneCopy | null {
  const size = fs.statSync(file).size;
  const sized = entry.copies.filter((c) => c.files[0].sha256 !== null && (c.files[0].bytes === undefined || c.files[0].bytes === size));
  if (sized.length === 0) return null;
  const sha = fileSha256(file);
  return sized.find((c) => c.files[0].sha256 === sha) ?? null;
}

function identifyOnnx(entry: BackboneEntry, file: string, hint: BackboneCopy | null): Identified {
  if (!fs.existsSync(file) || !fs.statSync(file).isFile()) return { ok: false, problem: null };
  const copy = onnxCopyOf(entry, file);
  if (copy) return { ok: true, backbone: resolvedFrom(entry, copy, file) };
  if (!hint) return { ok: false, problem: null };
  const want = hint.files[0];
  const size = fs.statSync(file).size;
  return {
    ok: false,
    problem:
      want.bytes !== undefined && want.bytes !== size
        ? `${entry.title} at ${file} is not the official file: it has ${size.toLocaleString('en-US')} bytes, not ${want.bytes.toLocaleString('en-US')} (incomplete or another file). Download it again or replace it.`
        : `${entry.title} at ${file} is damaged: it does not match its checksum (sha256). Download it again or replace it.`,
  };
}

/** Which copy of `entry` the location holds (a TF.js folder, or an ONNX file), verified file by file. */
export function identifyCopy(entry: BackboneEntry, location: string, hint: BackboneCopy | null = null): Identified {
  if (entry.format === 'onnx') return identifyOnnx(entry, location, hint);
  const dir = location;
  const modelJson = path.join(dir, 'model.json');
  if (!fs.existsSync(modelJson)) return { ok: false, problem: null };
  const sha = fileSha256(modelJson);
  const copy = entry.copies.find((c) => c.files.some((f) => f.path === 'model.json' && f.sha256 === sha));
  if (copy) {
    const problem = verifyCopy(entry, copy, dir);
    return problem ? { ok: false, problem } : { ok: true, backbone: resolvedFrom(entry, copy, dir) };
  }
  // The folder is named for a copy but its model.json is not that copy's.
  if (hint) {
    const pinned = hint.files.every((f) => f.sha256 !== null);
    return {
      ok: false,
      problem: pinned
        ? `${entry.title} at ${dir} is damaged: model.json does not match its checksum (sha256).`
        : `${entry.title} (${hint.title}) has no pinned checksums, so Loupe cannot verify ${dir} (see resources/BACKBONES.md).`,
    };
  }
  return { ok: false, problem: null };
}

/** The first verified copy of a registry backbone on this machine, with what was wrong with the others. */
export function findCopy(entry: BackboneEntry): { backbone: ResolvedBackbone | null; problems: string[] } {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const { location, copy } of candidates(entry)) {
    if (seen.has(location) || !fs.existsSync(location)) continue;
    seen.add(location);
    const found = identifyCopy(entry, location, copy);
    if (found.ok) return { backbone: found.backbone, problems };
    if (found.problem) problems.push(found.problem);
  }
  return { backbone: null, problems };
}

/** Files of a TF.js layers model folder: model.json and the shards its manifest names. */
export function tfjsFiles(dir: string): string[] {
  let json: { weightsManifest?: { paths: string[] }[] };
  try {
    json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  } catch {
    throw new LoupeError('INVALID_INPUT', `${dir} holds no readable model.json: not a TensorFlow.js layers model.`);
  }
  const shards = (json.weightsManifest ?? []).flatMap((g) => g.paths);
  for (const p of shards) {
    const file = path.resolve(dir, p);
    if (path.relative(dir, file).startsWith('..')) throw new LoupeError('INVALID_INPUT', `${dir}/model.json names a weight file outside its folder (${p}).`);
    if (!fs.existsSync(file)) throw new LoupeError('INVALID_INPUT', `The model in ${dir} is incomplete: ${p} is missing.`);
  }
  return ['model.json', ...shards];
}

/** The output layer of a TF.js layers model (its default feature layer). */
function outputLayer(dir: string): { name: string; inputSize: number | null } {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as { modelTopology?: Record<string, unknown> };
  let topology = json.modelTopology as Record<string, unknown> | undefined;
  if (topology && typeof topology.model_config === 'object') topology = topology.model_config as Record<string, unknown>;
  type RawLayer = { name?: string; config?: Record<string, unknown> };
  const config = topology?.config as Record<string, unknown> | RawLayer[] | undefined;
  const layers: RawLayer[] = (Array.isArray(config) ? config : (config?.layers as RawLayer[] | undefined)) ?? [];
  const outputs = Array.isArray(config) ? null : (config?.output_layers as [string, number, number][] | undefined);
  const last = layers.at(-1);
  const name = outputs?.[0]?.[0] ?? (last?.config?.name as string | undefined) ?? last?.name;
  if (!name) throw new LoupeError('INVALID_INPUT', `The model in ${dir} has no layers.`);
  const shape = layers[0]?.config?.batch_input_shape as (number | null)[] | undefined;
  return { name, inputSize: typeof shape?.[1] === 'number' ? shape[1] : null };
}

/** A user's model (added, or given as a path): not verified by the registry; its fingerprint follows its files. */
export function customBackbone(user: Omit<UserBackbone, 'addedAt'>, source: 'user' | 'path'): ResolvedBackbone {
  const location = path.resolve(user.path);
  const files = user.format === 'onnx' ? [location] : tfjsFiles(location).map((f) => path.join(location, f));
  return {
    name: user.name,
    title: source === 'path' ? path.basename(location) : user.name,
    source,
    format: user.format,
    copy: 'local',
    location,
    featureLayer: user.output,
    features: null,
    inputSize: user.inputSize,
    resolutions: [user.inputSize],
    preprocess: user.preprocess,
    license: 'as its owner licensed it',
    fingerprint: fingerprintOf([user.format, user.output, user.preprocess, files.map((f) => fileSha256(f))]),
    verified: false,
  };
}

/** A model at a path: a registry copy when its files match one (refused when damaged), else the user's own. */
export function backboneAtPath(target: string): ResolvedBackbone {
  const resolved = path.resolve(target);
  if (!fs.existsSync(resolved)) throw new LoupeError('NOT_FOUND', `There is no backbone at ${resolved}.`);
  if (fs.statSync(resolved).isDirectory()) {
    for (const entry of loadRegistry()) {
      const hint = entry.copies.find((c) => c.folder === path.basename(resolved) || c.name === path.basename(resolved)) ?? null;
      const found = identifyCopy(entry, resolved, hint);
      if (found.ok) return found.backbone;
      if (found.problem) throw new LoupeError('INVALID_INPUT', found.problem);
    }
    const out = outputLayer(resolved);
    // Named by its path: that is how a run finds it again.
    return customBackbone(
      { name: resolved, path: resolved, format: 'tfjs-layers', output: out.name, inputSize: out.inputSize ?? 224, preprocess: { scale: 1, offset: 0 } },
      'path',
    );
  }
  if (resolved.toLowerCase().endsWith('.onnx')) {
    const known = recogniseFile(resolved);
    if (known) return resolvedFrom(known.entry, known.copy, resolved);
    throw new LoupeError('INVALID_INPUT', `${resolved} is an ONNX model that is not one of the registry's: add it first (loupe backbones add ${resolved}), so Loupe knows its input size and preprocessing.`);
  }
  throw new LoupeError('INVALID_INPUT', `${resolved} is not a backbone: give a folder holding a TensorFlow.js model.json, or an added backbone's name.`);
}

/** The registry backbone an ONNX file is, by its size and sha256 (however it got here), or null. */
export function recogniseFile(file: string): { entry: BackboneEntry; copy: BackboneCopy } | null {
  for (const entry of loadRegistry().filter((e) => e.format === 'onnx')) {
    const copy = onnxCopyOf(entry, file);
    if (copy) return { entry, copy };
  }
  return null;
}

/** A backbone by registry id, added name or path. */
export function resolveBackbone(nameOrPath: string): ResolvedBackbone {
  const entry = loadRegistry().find((e) => e.id === nameOrPath);
  if (entry) {
    const { backbone, problems } = findCopy(entry);
    if (backbone) return backbone;
    throw new LoupeError(
      problems.length > 0 ? 'INVALID_INPUT' : 'NOT_FOUND',
      problems[0] ?? `${entry.title} is not on this machine: download it (loupe backbones download ${entry.id}) or point LOUPE_BACKBONE_DIR at a folder holding it.`,
    );
  }
  const user = userBackbones().find((u) => u.name === nameOrPath);
  if (user) {
    if (!fs.existsSync(user.path)) throw new LoupeError('NOT_FOUND', `The backbone "${user.name}" was added from ${user.path}, which is gone.`);
    return customBackbone(user, 'user');
  }
  if (nameOrPath.includes('/') || nameOrPath.includes('\\') || nameOrPath.startsWith('.') || fs.existsSync(nameOrPath)) return backboneAtPath(nameOrPath);
  const known = [...loadRegistry().map((e) => e.id), ...userBackbones().map((u) => u.name)];
  throw new LoupeError('NOT_FOUND', `There is no backbone "${nameOrPath}". Known: ${known.join(', ') || 'none'}; or give a path to a model folder.`);
}

/** Whether an official copy can be downloaded: it has mirrors and every file has a pinned checksum. */
export function downloadableCopy(entry: BackboneEntry): BackboneCopy | null {
  return entry.copies.find((c) => c.mirrors.length > 0 && c.files.every((f) => f.sha256 !== null)) ?? null;
}

/** "huggingface.co (or 1 other mirror)": where a download comes from, for people. */
export function mirrorHosts(copy: BackboneCopy): string {
  const [first, ...rest] = copy.mirrors.map((m) => new URL(m).host);
  return rest.length === 0 ? first : `${first} (or ${rest.length} other mirror${rest.length > 1 ? 's' : ''})`;
}


/** Every backbone, for people and scripts: registry entries first (in preference order), then the user's. */
export function listBackbones(): BackboneInfo[] {
  const out: BackboneInfo[] = [];
  for (const entry of loadRegistry()) {
    const { backbone, problems } = findCopy(entry);
    const download = downloadableCopy(entry);
    const official = entry.copies.find((c) => c.mirrors.length > 0);
    const here = backbone ? entry.copies.find((c) => c.name === backbone.copy) : undefined;
    out.push({
      name: entry.id,
      title: entry.title,
      description: entry.description,
      license: entry.license,
      source: 'registry',
      format: entry.format,
      inputSize: entry.inputSize,
      features: backbone?.features ?? entry.copies[0]?.features ?? null,
      present: backbone !== null,
      path: backbone?.location ?? null,
      copy: backbone?.copy ?? null,
      status: backbone
        ? `Here (${here?.title ?? backbone.copy}) at ${backbone.location}, verified by checksum.`
        : (problems[0] ??
          (download
            ? `Not on this machine; Loupe can download it (${backboneSize({ bytes: download.bytes ?? null }) ?? 'size unknown'}) from ${mirrorHosts(download)}, verified by checksum.`
            : `Not on this machine. Its official files (${official?.mirrors[0] ?? 'no source'}) have no pinned checksums yet, so Loupe does not download them: point LOUPE_BACKBONE_DIR at a copy, or add one (Backbones → Add, or loupe backbones add <folder>).`)),
      downloadable: download !== null,
      bytes: (here ?? download ?? official)?.bytes ?? null,
      imagenetTop1: entry.imagenetTop1,
      verified: backbone?.verified ?? false,
      resolutions: entry.resolutions,
      speeds: backbone ? readSpeeds(backbone.fingerprint) : [],
    });
  }
  for (const user of userBackbones()) {
    let status = `Added from ${user.path}.`;
    let present = true;
    let fingerprint: string | null = null;
    try {
      fingerprint = customBackbone(user, 'user').fingerprint;
    } catch (err) {
      present = false;
      status = err instanceof Error ? err.message : String(err);
    }
    if (!fs.existsSync(user.path)) {
      present = false;
      status = `Added from ${user.path}, which is gone.`;
    }
    out.push({
      name: user.name,
      title: user.name,
      description: `${user.format === 'onnx' ? 'ONNX' : 'TensorFlow.js'} model added from this machine; features: ${user.output ?? 'found automatically (the classifier\'s input)'}.`,
      license: 'as its owner licensed it',
      source: 'user',
      format: user.format,
      inputSize: user.inputSize,
      features: null,
      present,
      path: user.path,
      copy: 'local',
      status,
      downloadable: false,
      bytes: present && user.format === 'onnx' ? fs.statSync(user.path).size : null,
      imagenetTop1: null,
      verified: false,
      resolutions: [user.inputSize],
      speeds: fingerprint ? readSpeeds(fingerprint) : [],
    });
  }
  return out;
}
