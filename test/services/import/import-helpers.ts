// Tiny generated images and folders for import tests, and a one-call import.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import type { ImportReport } from '../../../src/shared/types';
import { createImport, runImport, type ImportSource, type RunOptions } from '../../../src/main/services/import';
import { pngChunk } from '../../../src/main/services/sample';
import { Project } from '../../../src/main/store/project';
import { onCleanup, tempDir } from '../../helpers';

export type Format = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif';

export interface ImageOptions {
  width?: number;
  height?: number;
  /** Different seeds give different content (and hashes). */
  seed?: number;
  /** EXIF orientation (1-8). */
  orientation?: number;
}

export async function image(format: Format, options: ImageOptions = {}): Promise<Buffer> {
  const { width = 8, height = 8, seed = 0 } = options;
  const pixels = Buffer.alloc(width * height * 3);
  for (let block = 0; block * 32 < pixels.length; block++) {
    createHash('sha256').update(`${seed}:${block}`).digest().copy(pixels, block * 32);
  }
  let img = sharp(pixels, { raw: { width, height, channels: 3 } });
  if (options.orientation) img = img.withMetadata({ orientation: options.orientation });
  return img.toFormat(format, format === 'jpeg' ? { quality: 95 } : {}).toBuffer();
}

export function put(dir: string, rel: string, bytes: Buffer | string): string {
  const file = path.join(dir, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, bytes);
  return file;
}

/** `layout` maps relative paths to image seeds (or bytes): `{ 'cat/1.png': 1 }`. */
export async function folder(layout: Record<string, number | Buffer>, format: Format = 'png', dir = tempDir('loupe-src-')): Promise<string> {
  for (const [rel, v] of Object.entries(layout)) put(dir, rel, typeof v === 'number' ? await image(format, { seed: v }) : v);
  return dir;
}

export function newProject(name = 'p.loupe'): Project {
  const project = Project.create(path.join(tempDir(), name));
  onCleanup(() => project.close());
  return project;
}

export async function importInto(
  project: Project,
  paths: string[] | ImportSource[],
  options: RunOptions = {},
): Promise<ImportReport> {
  const sources = paths.map((p) => (typeof p === 'string' ? ({ kind: 'path', path: path.resolve(p) } as const) : p));
  const importId = createImport(project.db, sources);
  return runImport(project, importId, options);
}

/** Images of a project with their label and split, keyed by the name they were imported as. */
export function imagesOf(project: Project) {
  return project.db
    .prepare(
      `SELECT i.original_name AS name, i.source_path AS source, i.hash, i.format, i.ext, i.width, i.height,
              i.channels, i.split, i.split_source AS splitSource, c.name AS label
         FROM images i LEFT JOIN labels l ON l.image_id = i.id LEFT JOIN classes c ON c.id = l.class_id
        ORDER BY i.id`,
    )
    .all() as {
    name: string;
    source: string;
    hash: string;
    format: string;
    ext: string;
    width: number;
    height: number;
    channels: number;
    split: string;
    splitSource: string;
    label: string | null;
  }[];
}

/** A PNG whose header claims `width`×`height` pixels but holds almost nothing: a bomb's shape. */
export function bombPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 0;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.alloc(width + 1))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A PNG's chunks with one chunk's data replaced (CRC recomputed: damage the decoder must catch itself). */
export function pngWithChunk(type: string, data: Buffer, w: number, h: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const chunks = [pngChunk('IHDR', ihdr)];
  chunks.push(pngChunk(type, data));
  if (type !== 'IDAT') chunks.push(pngChunk('IDAT', deflateSync(Buffer.alloc((w * 3 + 1) * h))));
  chunks.push(pngChunk('IEND', Buffer.alloc(0)));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ...chunks]);
}

export const skippedPaths = (report: ImportReport) => report.skipped.map((s) => s.path);
export const reasonFor = (report: ImportReport, suffix: string) => report.skipped.find((s) => s.path.endsWith(suffix))?.reason;

/** Import temp files left in media/ and thumbs/. */
export function tempFiles(root: string): string[] {
  const out: string[] = [];
  for (const top of ['media', 'thumbs']) {
    const dir = path.join(root, top);
    if (!fs.existsSync(dir)) continue;
    for (const name of fs.readdirSync(dir, { recursive: true }) as string[]) if (name.endsWith('.part')) out.push(path.join(top, name));
  }
  return out;
}
