// Dropped files in the window. The desktop window imports them by path (the preload tells their
// paths); a browser streams each file to the server (`POST <upload url>?path=<relative path>`),
// keeping the dropped folders so class folders still give labels, then imports the upload.

import { byteSize } from '../../../shared/format';
import type { LoupeBridge } from '../../../shared/bridge';
import type { ImportSkip, ImportStarted, UploadInfo } from '../../../shared/types';
import type { LoupeClient } from './transport';

export interface PickedFile {
  /** Relative path as dropped or picked: `pets/cat/1.jpg`. */
  path: string;
  file: File;
}

export interface UploadOutcome {
  stored: number;
  /** Files the server (or this page) refused, with why; they are not imported. */
  refused: ImportSkip[];
}

// FileSystemEntry, as far as this file needs it (Chromium, Firefox and Safari have it).
interface Entry {
  isFile: boolean;
  isDirectory: boolean;
  fullPath: string;
  file?(ok: (f: File) => void, fail: (e: unknown) => void): void;
  createReader?(): { readEntries(ok: (entries: Entry[]) => void, fail: (e: unknown) => void): void };
}

async function walk(entry: Entry, out: PickedFile[]): Promise<void> {
  if (entry.isFile && entry.file) {
    const file = await new Promise<File>((ok, fail) => entry.file!(ok, fail));
    out.push({ path: entry.fullPath.replace(/^\/+/, ''), file });
  } else if (entry.isDirectory && entry.createReader) {
    const reader = entry.createReader();
    // readEntries answers in pieces (100 at a time in Chromium) until it answers nothing.
    for (;;) {
      const batch = await new Promise<Entry[]>((ok, fail) => reader.readEntries(ok, fail));
      if (batch.length === 0) break;
      for (const child of batch) await walk(child, out);
    }
  }
}

/** The files of a drop, walking dropped folders, with their paths relative to the drop. */
export async function droppedFiles(dt: DataTransfer): Promise<PickedFile[]> {
  const entries = [...dt.items]
    .map((item) => (item.kind === 'file' ? (item.webkitGetAsEntry?.() as Entry | null) : null))
    .filter((e): e is Entry => e !== null);
  if (entries.length === 0) return pickedFiles(dt.files);
  const out: PickedFile[] = [];
  for (const entry of entries) await walk(entry, out);
  return out;
}

/** Files from an <input type=file> (with `webkitdirectory`, their folders come along). */
export function pickedFiles(list: FileList | File[]): PickedFile[] {
  return [...list].map((file) => ({ path: file.webkitRelativePath || file.name, file }));
}

/** Streams files to an upload, a few at a time. Hidden files (.DS_Store) are left out. */
export async function uploadFiles(
  info: UploadInfo,
  files: PickedFile[],
  options: { onProgress?: (done: number, total: number) => void; signal?: AbortSignal; concurrency?: number; base?: string } = {},
): Promise<UploadOutcome> {
  const wanted = files.filter((f) => !f.path.split('/').some((part) => part.startsWith('.')));
  const outcome: UploadOutcome = { stored: 0, refused: [] };
  let next = 0;
  let done = 0;
  const one = async (f: PickedFile) => {
    if (f.file.size > info.maxFileBytes) {
      outcome.refused.push({ path: f.path, reason: `The file is larger than ${byteSize(info.maxFileBytes, { unit: 'MB', digits: 0 })}.` });
      return;
    }
    try {
      const res = await fetch(`${options.base ?? ''}${info.url}?path=${encodeURIComponent(f.path)}`, {
        method: 'POST',
        body: f.file,
        headers: { 'Content-Type': 'application/octet-stream' },
        credentials: 'same-origin',
        signal: options.signal,
      });
      if (res.ok) outcome.stored++;
      else {
        const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
        outcome.refused.push({ path: f.path, reason: body?.error?.message ?? `The server refused it (${res.status}).` });
      }
    } catch (err) {
      if (options.signal?.aborted) throw err;
      outcome.refused.push({ path: f.path, reason: `Upload failed: ${err instanceof Error ? err.message : String(err)}` });
    }
  };
  const lane = async () => {
    while (next < wanted.length) {
      await one(wanted[next++]);
      options.onProgress?.(++done, wanted.length);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, lane));
  return outcome;
}

/**
 * Imports dropped or picked files into the open project: by path where the window knows paths
 * (desktop), else by upload. Resolves when the import job has started.
 */
export async function importFiles(
  api: LoupeClient,
  files: PickedFile[],
  bridge: LoupeBridge | undefined,
  onUpload?: (done: number, total: number) => void,
): Promise<{ started: ImportStarted | null; refused: ImportSkip[] }> {
  if (bridge) {
    // Top-level items only: a dropped folder is imported as a folder.
    const paths = [...new Set(files.map((f) => bridge.pathForFile(f.file)).filter(Boolean))];
    if (paths.length === 0) return { started: null, refused: [] };
    return { started: await api.importPaths({ paths }), refused: [] };
  }
  const info = await api.beginUpload();
  try {
    const outcome = await uploadFiles(info, files, { onProgress: onUpload });
    if (outcome.stored === 0) {
      await api.discardUpload({ uploadId: info.uploadId });
      return { started: null, refused: outcome.refused };
    }
    return { started: await api.importUpload({ uploadId: info.uploadId }), refused: outcome.refused };
  } catch (err) {
    await api.discardUpload({ uploadId: info.uploadId }).catch(() => {});
    throw err;
  }
}
