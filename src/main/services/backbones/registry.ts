// The backbones Loupe knows: the registry shipped in resources/backbones.json (each backbone with
// the copies of it Loupe recognises, content-addressed: every file by its sha256 and size, served
// by any of the copy's mirrors), the ones the user added (appDataDir()/backbones/user.json), and
// where the user keeps official files Loupe recognised by their hash (backbones/located.json). No
// weights live in the repository: a copy is found on this machine, downloaded, or pointed at.

import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../../shared/errors';
import { appDataDir } from '../../store/app-paths';
import { packageRoot } from '../../version';
import type { Preprocess } from '../onnx/surgery';

export type { Preprocess };

export interface BackboneFile {
  /** Relative to the copy's folder (and to its download url). */
  path: string;
  /** Null: not pinned yet; such a copy is neither downloaded nor used (see resources/BACKBONES.md). */
  sha256: string | null;
  bytes?: number;
}

export interface BackboneCopy {
  name: string;
  title: string;
  /** Where the files can be fetched, tried in order: each file from mirror + file.path (the same bytes everywhere). */
  mirrors: string[];
  /** The folder name this copy is known by under LOUPE_BACKBONE_DIR. */
  folder?: string;
  /**
   * TF.js: the layer whose output is the features (a spatial output is global-average pooled).
   * ONNX: the value holding them, or null: Loupe finds it (the classifier's input).
   */
  featureLayer: string | null;
  features: number;
  bytes?: number;
  files: BackboneFile[];
}

export interface BackboneEntry {
  id: string;
  title: string;
  description: string;
  license: string;
  /** What it was pretrained on ("ImageNet"), for people. */
  dataset: string | null;
  format: 'tfjs-layers' | 'onnx';
  inputSize: number;
  channels: 3;
  /** The network's input is x * scale + offset for pixels x scaled to [0, 1] (per channel where three numbers). */
  preprocess: Preprocess;
  /** Input sizes the network works at (it is fully convolutional up to its pooled features). */
  resolutions: number[];
  /** ImageNet top-1 accuracy (%) as published (not measured by Loupe); null when unknown. */
  imagenetTop1: number | null;
  copies: BackboneCopy[];
}

/** A backbone added from this machine (a TF.js layers folder or an ONNX file). */
export interface UserBackbone {
  name: string;
  /** The folder (TF.js: model.json and its shards) or the .onnx file. */
  path: string;
  format: 'tfjs-layers' | 'onnx';
  /** TF.js: the feature layer; ONNX: the value used as features, or null: found by Loupe. */
  output: string | null;
  inputSize: number;
  preprocess: Preprocess;
  addedAt: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function bad(file: string, why: string): LoupeError {
  return new LoupeError('INVALID_INPUT', `The backbone registry ${file} is not valid: ${why}`);
}

function parseEntry(raw: unknown, file: string): BackboneEntry {
  if (!isObject(raw) || typeof raw.id !== 'string' || !Array.isArray(raw.copies)) throw bad(file, 'an entry has no id or copies.');
  const pre = raw.preprocess as BackboneEntry['preprocess'] | undefined;
  const numbers = (v: unknown) => typeof v === 'number' || (Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number'));
  if (!isObject(pre) || !numbers(pre.scale) || !numbers(pre.offset)) throw bad(file, `${raw.id} has no preprocess scale and offset (a number each, or three: R, G, B).`);
  if (typeof raw.inputSize !== 'number') throw bad(file, `${raw.id} has no inputSize.`);
  const onnx = raw.format === 'onnx';
  const copies = raw.copies.map((c): BackboneCopy => {
    if (!isObject(c) || typeof c.name !== 'string' || !Array.isArray(c.files)) throw bad(file, `a copy of ${raw.id} has no name or files.`);
    const layer = c.featureLayer ?? null;
    if (!(typeof layer === 'string' || (onnx && layer === null))) throw bad(file, `${raw.id}/${c.name} has no featureLayer (only an ONNX copy may leave it null: found automatically).`);
    const mirrors = Array.isArray(c.mirrors) ? c.mirrors : typeof c.url === 'string' ? [c.url] : [];
    if (!mirrors.every((m) => typeof m === 'string' && /^https?:\/\//.test(m))) throw bad(file, `${raw.id}/${c.name} has a mirror that is not an http(s) url.`);
    const files = c.files.map((f): BackboneFile => {
      if (!isObject(f) || typeof f.path !== 'string' || !(f.sha256 === null || (typeof f.sha256 === 'string' && /^[0-9a-f]{64}$/.test(f.sha256)))) {
        throw bad(file, `a file of ${raw.id}/${c.name} has no path or a malformed sha256.`);
      }
      if (f.path.includes('..') || path.isAbsolute(f.path)) throw bad(file, `${raw.id}/${c.name} names a file outside its folder (${f.path}).`);
      return { path: f.path, sha256: f.sha256, bytes: typeof f.bytes === 'number' ? f.bytes : undefined };
    });
    if (!files.some((f) => f.path === 'model.json') && !onnx) throw bad(file, `${raw.id}/${c.name} lists no model.json.`);
    if (onnx && (files.length !== 1 || !files[0].path.toLowerCase().endsWith('.onnx'))) throw bad(file, `${raw.id}/${c.name} must list exactly one .onnx file.`);
    return {
      name: c.name,
      title: typeof c.title === 'string' ? c.title : c.name,
      mirrors: mirrors as string[],
      folder: typeof c.folder === 'string' ? c.folder : undefined,
      featureLayer: layer as string | null,
      features: Number(c.features),
      bytes: typeof c.bytes === 'number' ? c.bytes : undefined,
      files,
    };
  });
  return {
    id: raw.id,
    title: String(raw.title ?? raw.id),
    description: String(raw.description ?? ''),
    license: String(raw.license ?? 'unknown'),
    dataset: typeof raw.dataset === 'string' ? raw.dataset : null,
    format: onnx ? 'onnx' : 'tfjs-layers',
    inputSize: raw.inputSize,
    channels: 3,
    preprocess: { scale: pre.scale, offset: pre.offset },
    resolutions: Array.isArray(raw.resolutions) ? (raw.resolutions as number[]) : [raw.inputSize],
    imagenetTop1: typeof raw.imagenetTop1 === 'number' ? raw.imagenetTop1 : null,
    copies,
  };
}

/** The registry file: LOUPE_BACKBONE_REGISTRY (tests, mirrors) or the one shipped in resources/. */
export function registryFile(env: NodeJS.ProcessEnv = process.env): string {
  return env.LOUPE_BACKBONE_REGISTRY ? path.resolve(env.LOUPE_BACKBONE_REGISTRY) : path.join(packageRoot(), 'resources', 'backbones.json');
}

const parsed = new Map<string, { stamp: string; entries: BackboneEntry[] }>();

export function loadRegistry(file = registryFile()): BackboneEntry[] {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new LoupeError('NOT_FOUND', `The backbone registry ${file} is missing.`);
  }
  const stamp = `${stat.mtimeMs}:${stat.size}`;
  const hit = parsed.get(file);
  if (hit?.stamp === stamp) return hit.entries;
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    throw bad(file, 'it is not JSON.');
  }
  if (!isObject(json) || !Array.isArray(json.backbones)) throw bad(file, 'it lists no backbones.');
  const entries = json.backbones.map((e) => parseEntry(e, file));
  parsed.set(file, { stamp, entries });
  return entries;
}

/** Where downloaded copies and the list of added backbones live. */
export function backbonesHome(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(appDataDir(env), 'backbones');
}

function userFile(): string {
  return path.join(backbonesHome(), 'user.json');
}

export function userBackbones(): UserBackbone[] {
  try {
    const list = JSON.parse(fs.readFileSync(userFile(), 'utf8')) as unknown;
    return Array.isArray(list) ? (list.filter((u) => isObject(u) && typeof u.name === 'string' && typeof u.path === 'string') as UserBackbone[]) : [];
  } catch {
    return [];
  }
}

export function saveUserBackbone(backbone: UserBackbone): void {
  const list = userBackbones().filter((u) => u.name !== backbone.name);
  list.push(backbone);
  fs.mkdirSync(backbonesHome(), { recursive: true });
  const tmp = `${userFile()}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(list, null, 2));
  fs.renameSync(tmp, userFile());
}

/**
 * An official file (or TF.js folder) kept somewhere else on this machine, recognised by its hash
 * when the user added it: Loupe remembers where it is rather than copying hundreds of megabytes,
 * and checks it again (size, then sha256) whenever it is used.
 */
export interface LocatedCopy {
  /** The registry backbone and copy it is. */
  id: string;
  copy: string;
  /** The .onnx file or the TF.js folder. */
  path: string;
  addedAt: number;
}

function locatedFile(): string {
  return path.join(backbonesHome(), 'located.json');
}

export function locatedCopies(): LocatedCopy[] {
  try {
    const list = JSON.parse(fs.readFileSync(locatedFile(), 'utf8')) as unknown;
    return Array.isArray(list) ? (list.filter((l) => isObject(l) && typeof l.id === 'string' && typeof l.copy === 'string' && typeof l.path === 'string') as LocatedCopy[]) : [];
  } catch {
    return [];
  }
}

/** Remembers where a recognised copy lies (the newest first; one entry per path). */
export function saveLocatedCopy(located: LocatedCopy): void {
  const list = [located, ...locatedCopies().filter((l) => l.path !== located.path)];
  fs.mkdirSync(backbonesHome(), { recursive: true });
  const tmp = `${locatedFile()}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(list, null, 2));
  fs.renameSync(tmp, locatedFile());
}
