// Browser mode's drag-and-drop: the browser streams each dropped file to
// `POST /upload/<uploadId>?path=<relative path>`, into a staging folder inside the project,
// keeping the dropped folders (so class folders still give labels); then `importUpload` imports
// that folder. Relative paths are checked segment by segment and never leave the folder.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { LoupeError } from '../../../shared/errors';
import { requireWritable, type Project } from '../../store/project';
import { DEFAULT_LIMITS } from './limits';
import { oddCharacters } from './names';
import { uploadDir } from './paths';

export const MAX_UPLOAD_FILE_BYTES = DEFAULT_LIMITS.maxBytes;
const MAX_PATH_CHARS = 1024;
const MAX_SEGMENTS = 32;
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;

/** An error with the HTTP status the upload route answers. */
export class UploadError extends LoupeError {
  constructor(
    readonly status: number,
    code: ConstructorParameters<typeof LoupeError>[0],
    message: string,
  ) {
    super(code, message);
  }
}

/**
 * The relative path a dropped file is stored under, as segments. Refuses absolute paths, `.`
 * and `..`, empty names, characters that are not allowed in file names on some system, names
 * with control characters or bidirectional overrides, and absurd lengths.
 */
export function sanitizeUploadPath(raw: string): string[] {
  const refuse = (why: string) => {
    throw new UploadError(400, 'INVALID_PATH', `Refused file path: ${why}`);
  };
  if (raw.length === 0) refuse('it is empty.');
  if (raw.length > MAX_PATH_CHARS) refuse(`it is longer than ${MAX_PATH_CHARS} characters.`);
  if (raw.startsWith('/') || raw.startsWith('\\') || /^[a-zA-Z]:/.test(raw)) refuse('it must be relative.');
  const segments = raw.split(/[/\\]/);
  if (segments.length > MAX_SEGMENTS) refuse(`it is nested more than ${MAX_SEGMENTS} folders deep.`);
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') refuse('empty, "." or ".." parts are not allowed.');
    const odd = oddCharacters(segment);
    if (odd) refuse(`a name contains ${odd}.`);
    if (/[<>:"|?*]/.test(segment)) refuse('a name contains one of < > : " | ? *.');
    if (/[. ]$/.test(segment)) refuse('a name ends with a dot or a space.');
    if (WINDOWS_RESERVED.test(segment)) refuse('a name is reserved on Windows (CON, NUL, COM1, ...).');
    if (Buffer.byteLength(segment) > 255) refuse('a name is longer than 255 bytes.');
  }
  return segments;
}

interface OpenUpload {
  project: Project;
  dir: string;
  files: number;
  bytes: number;
}

/** Uploads in progress in this process, by id. */
export class Uploads {
  readonly #open = new Map<string, OpenUpload>();

  begin(project: Project): string {
    requireWritable(project);
    const uploadId = randomBytes(16).toString('hex');
    const dir = uploadDir(project.root, uploadId);
    fs.mkdirSync(dir, { recursive: true });
    this.#open.set(uploadId, { project, dir, files: 0, bytes: 0 });
    return uploadId;
  }

  /** The upload, which must belong to `project` when one is given. */
  get(uploadId: string, project?: Project): OpenUpload {
    const upload = this.#open.get(uploadId);
    if (!upload || upload.project.closed || (project && upload.project !== project)) {
      throw new UploadError(404, 'NOT_FOUND', 'No such upload in the open project.');
    }
    return upload;
  }

  /** Ids of open uploads of a project (kept when stale uploads are pruned). */
  ids(project: Project): Set<string> {
    return new Set([...this.#open].filter(([, u]) => u.project === project).map(([id]) => id));
  }

  /** Streams one file into the upload's folder: to a temp name, renamed when complete. */
  async receive(uploadId: string, rawPath: string, body: Readable, declaredBytes: number | null): Promise<{ path: string; bytes: number }> {
    const upload = this.get(uploadId);
    const segments = sanitizeUploadPath(rawPath);
    if (declaredBytes !== null && declaredBytes > MAX_UPLOAD_FILE_BYTES) throw tooLarge();
    const target = path.join(upload.dir, ...segments);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    const tmp = path.join(upload.dir, `.upload-${randomBytes(8).toString('hex')}.part`);
    let bytes = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        done(bytes > MAX_UPLOAD_FILE_BYTES ? tooLarge() : null, chunk);
      },
    });
    try {
      await pipeline(body, count, fs.createWriteStream(tmp));
      fs.renameSync(tmp, target);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      if ((err as NodeJS.ErrnoException).code === 'ENOSPC') throw new UploadError(507, 'DISK_FULL', 'The disk is full.');
      if ((err as NodeJS.ErrnoException).code === 'EISDIR' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') {
        throw new UploadError(409, 'INVALID_PATH', 'A file and a folder of the same name were dropped.');
      }
      throw err;
    }
    upload.files++;
    upload.bytes += bytes;
    return { path: segments.join('/'), bytes };
  }

  /** Ends an upload before its import (the files stay until the import is done or discarded). */
  close(uploadId: string): OpenUpload {
    const upload = this.get(uploadId);
    this.#open.delete(uploadId);
    return upload;
  }

  discard(uploadId: string): void {
    const upload = this.close(uploadId);
    fs.rmSync(upload.dir, { recursive: true, force: true });
  }
}

function tooLarge(): UploadError {
  return new UploadError(413, 'INVALID_INPUT', `The file is larger than ${Math.round(MAX_UPLOAD_FILE_BYTES / 1024 / 1024)} MB.`);
}
