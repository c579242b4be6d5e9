// An export as one zip, streamed (browser mode's Download: the export itself sits on the
// server's disk). Always zipped afresh from the export folder, so an export made without
// --zip downloads the same way. Only the files an export writes are read, each a regular file
// inside the folder (never a link): the folder's path comes from the project's database, and
// a project from elsewhere is untrusted.

import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { Zip, ZipDeflate, ZipPassThrough } from 'fflate';
import { LoupeError } from '../../../shared/errors';
import { MODEL_JSON, WEIGHTS_BIN } from '../tfjs/checkpoint';
import type { Project } from '../../store/project';
import { CARD_FILE, INT8_FILE, LABELS_FILE, ONNX_FILE, PREPROCESS_FILE, TFJS_DIR, TFLITE_FILE, TFLITE_INT8_FILE } from './files';
import { cleanExportName } from './names';
import { exportInfo } from './records';
import { sampleFiles } from './samples';

/** Every file an export can hold, relative to its folder with '/' separators. */
const EXPORT_FILES = [
  ONNX_FILE,
  `${TFJS_DIR}/${MODEL_JSON}`,
  `${TFJS_DIR}/${WEIGHTS_BIN}`,
  LABELS_FILE,
  PREPROCESS_FILE,
  CARD_FILE,
  INT8_FILE,
  TFLITE_FILE,
  TFLITE_INT8_FILE,
  ...Object.keys(sampleFiles({ onnx: true, tfjs: true, tflite: true, int8: true }, '')),
].sort();
/** Without these it is not an export folder. */
const REQUIRED = [LABELS_FILE, PREPROCESS_FILE, CARD_FILE];

export interface ExportDownload {
  /** The zip's file name, and the folder its entries sit in (`<name>/labels.txt`). */
  name: string;
  fileName: string;
  files: { rel: string; file: string }[];
}

const lstat = (p: string) => {
  try {
    return fs.lstatSync(p);
  } catch {
    return null;
  }
};

/** The files of a completed export of `project`, or NOT_FOUND. */
export function exportDownload(project: Project, exportId: number): ExportDownload {
  const info = exportInfo(project.db, exportId);
  const gone = () => new LoupeError('NOT_FOUND', `Export #${exportId} is not there to download.`);
  if (!info || info.status !== 'completed' || !path.isAbsolute(info.path)) throw gone();
  const folder = path.resolve(info.path);
  if (!lstat(folder)?.isDirectory()) throw gone();
  const files: ExportDownload['files'] = [];
  for (const rel of EXPORT_FILES) {
    const parts = rel.split('/');
    // Every folder on the way must be a real folder, not a link out of the export.
    let ok = true;
    for (let i = 1; i < parts.length && ok; i++) ok = lstat(path.join(folder, ...parts.slice(0, i)))?.isDirectory() ?? false;
    const file = path.join(folder, ...parts);
    if (ok && lstat(file)?.isFile()) files.push({ rel, file });
  }
  if (!REQUIRED.every((r) => files.some((f) => f.rel === r))) throw gone();
  const name = cleanExportName(path.basename(folder));
  return { name, fileName: `${name}.zip`, files };
}

/** Streams the zip into `out` (ended when done), file by file, waiting for `out` to drain. */
export async function writeExportZip(download: ExportDownload, out: Writable, mtime = new Date()): Promise<void> {
  let failed = null as Error | null;
  const zip = new Zip((err, chunk, final) => {
    if (err) failed = err;
    else if (chunk.length > 0) out.write(chunk);
    if (final && !err) out.end();
  });
  const drained = () =>
    out.writableNeedDrain && !out.destroyed
      ? new Promise<void>((resolve) => {
          const done = () => {
            out.off('drain', done).off('close', done);
            resolve();
          };
          out.on('drain', done).on('close', done);
        })
      : Promise.resolve();
  for (const { rel, file } of download.files) {
    // Weights barely compress (about 6%) and deflating them is the slow part: stored as they are.
    const entryName = `${download.name}/${rel}`;
    const entry = /\.(onnx|bin)$/.test(rel) ? new ZipPassThrough(entryName) : new ZipDeflate(entryName, { level: 6 });
    entry.mtime = mtime;
    zip.add(entry);
    const stream = fs.createReadStream(file, { highWaterMark: 256 * 1024 });
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (out.destroyed) {
        stream.destroy();
        zip.terminate();
        return;
      }
      entry.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
      if (failed) throw failed;
      await drained();
    }
    entry.push(new Uint8Array(0), true);
  }
  zip.end();
  if (failed) throw failed;
}

/** `attachment` with the name as ASCII (for old clients) and as UTF-8 (RFC 6266). */
export function attachmentHeader(fileName: string): string {
  const ascii = fileName.replace(/[^\w.-]/g, '_');
  const encoded = encodeURIComponent(fileName).replace(/['()*!]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
