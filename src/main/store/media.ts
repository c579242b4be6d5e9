// Where an image's bytes live inside a project, and the only way a media request becomes a
// file path. Requests name an image by its SHA-256; nothing a client sends is ever joined onto
// a path, and the resolved file must lie inside the project's own media or thumbs folder.

import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../shared/errors';
import type { Project } from './project';

export type MediaKind = 'image' | 'thumb';
const HASH = /^[0-9a-f]{64}$/;
const EXT = /^[a-z0-9]{1,5}$/;

export const CONTENT_TYPES: Record<string, string> = {
  jpeg: 'image/jpeg',
  jpg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  tiff: 'image/tiff',
  tif: 'image/tiff',
  avif: 'image/avif',
  heif: 'image/heif',
};

export function mediaRelPath(hash: string, ext: string): string {
  if (!HASH.test(hash) || !EXT.test(ext)) throw new LoupeError('INVALID_PATH', 'Bad media name.');
  return path.join('media', hash.slice(0, 2), `${hash}.${ext}`);
}

export function thumbRelPath(hash: string): string {
  if (!HASH.test(hash)) throw new LoupeError('INVALID_PATH', 'Bad media name.');
  return path.join('thumbs', hash.slice(0, 2), `${hash}.webp`);
}

export interface MediaFile {
  file: string;
  contentType: string;
}

/**
 * Parses a media request path of the form `<kind>/<sha256>` (exactly; no decoding, no
 * normalisation) and returns the file to send, or throws FORBIDDEN / NOT_FOUND.
 */
export function resolveMediaRequest(project: Project, requestPath: string): MediaFile {
  const match = /^(image|thumb)\/([0-9a-f]{64})$/.exec(requestPath);
  if (!match) throw new LoupeError('FORBIDDEN', 'Not a media path.');
  const [, kind, hash] = match as unknown as [string, MediaKind, string];
  const row = project.db.prepare('SELECT ext FROM images WHERE hash = ?').get(hash) as
    | { ext: string }
    | undefined;
  if (!row) throw new LoupeError('NOT_FOUND', 'No such image in this project.');
  const candidates: MediaFile[] = [];
  if (kind === 'thumb') candidates.push({ file: thumbRelPath(hash), contentType: 'image/webp' });
  // Images no larger than a thumbnail are their own thumbnail.
  candidates.push({ file: mediaRelPath(hash, row.ext), contentType: CONTENT_TYPES[row.ext] ?? 'application/octet-stream' });
  for (const candidate of candidates) {
    const file = confine(project.root, candidate.file);
    if (file) return { file, contentType: candidate.contentType };
  }
  throw new LoupeError('NOT_FOUND', 'The image file is missing from the project folder.');
}

/** The real path of `rel` under `root`, or null if it is missing or escapes media/ and thumbs/. */
export function confine(root: string, rel: string): string | null {
  let realRoot: string;
  let real: string;
  try {
    realRoot = fs.realpathSync(root);
    real = fs.realpathSync(path.join(root, rel));
  } catch {
    return null;
  }
  const inside = ['media', 'thumbs'].some((dir) => real.startsWith(path.join(realRoot, dir) + path.sep));
  return inside && fs.statSync(real).isFile() ? real : null;
}
