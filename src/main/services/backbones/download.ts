// Downloading a backbone from its official source into the app data folder: file by file, each
// into `<file>.part` (resumed with an HTTP Range request after an interruption), checked against
// the registry's sha256 and only then renamed into place. A copy is usable once every file is
// there and verified; a file that does not match is deleted and the download refused.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../../shared/errors';
import { cancelledError } from '../../jobs/jobs';
import { fileSha256, identifyCopy, type ResolvedBackbone } from './locate';
import { backbonesHome, type BackboneCopy, type BackboneEntry } from './registry';

export interface DownloadOptions {
  signal?: AbortSignal;
  /** Bytes fetched (including what an earlier attempt left) of the total, when known. */
  onProgress?: (done: number, total: number | null) => void;
  /** Where copies go (default: the app data folder's backbones/). */
  home?: string;
}

function describe(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}

async function fetchFile(url: string, part: string, signal: AbortSignal | undefined, onBytes: (n: number) => void): Promise<void> {
  const have = fs.existsSync(part) ? fs.statSync(part).size : 0;
  let res: Response;
  try {
    res = await fetch(url, { signal, headers: have > 0 ? { Range: `bytes=${have}-` } : {} });
  } catch (err) {
    if (signal?.aborted) throw cancelledError();
    throw new LoupeError('INTERNAL', `Cannot reach ${new URL(url).host} to download ${path.basename(part, '.part')} (${describe(err)}). Check the connection, or put a copy in a folder and add it.`);
  }
  if (res.status === 416 && have > 0) return; // already complete
  if (res.status !== 200 && res.status !== 206) throw new LoupeError('INTERNAL', `The server answered ${res.status} ${res.statusText} for ${url}.`);
  // 200 to a Range request: the server starts over, so does the file.
  const append = res.status === 206 && have > 0;
  if (!append && have > 0) onBytes(-have);
  const out = fs.openSync(part, append ? 'a' : 'w');
  try {
    if (!res.body) return;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      fs.writeSync(out, chunk);
      onBytes(chunk.byteLength);
    }
  } catch (err) {
    if (signal?.aborted) throw cancelledError();
    throw new LoupeError('INTERNAL', `The download of ${url} broke off (${describe(err)}); try again to resume it.`);
  } finally {
    fs.closeSync(out);
  }
}

/** Downloads (or completes) `copy` of `entry`; returns the verified backbone. */
export async function downloadCopy(entry: BackboneEntry, copy: BackboneCopy, options: DownloadOptions = {}): Promise<ResolvedBackbone> {
  if (!copy.url) throw new LoupeError('INVALID_INPUT', `${entry.title} (${copy.title}) has no download source.`);
  const unpinned = copy.files.filter((f) => f.sha256 === null);
  if (unpinned.length > 0) {
    throw new LoupeError(
      'NOT_SUPPORTED',
      `Loupe downloads only files it can verify, and the registry has no checksums for ${entry.title}'s official files yet (${unpinned.length} of ${copy.files.length}). ` +
        `Fetch them from ${copy.url} yourself and add the folder, or pin them (resources/BACKBONES.md).`,
    );
  }
  const dir = path.join(options.home ?? backbonesHome(), entry.id, copy.name);
  fs.mkdirSync(dir, { recursive: true });
  const known = copy.files.every((f) => typeof f.bytes === 'number');
  const total = known ? copy.files.reduce((n, f) => n + f.bytes!, 0) : (copy.bytes ?? null);
  let done = 0;
  const progress = (n: number) => {
    done += n;
    options.onProgress?.(done, total);
  };
  for (const f of copy.files) {
    if (options.signal?.aborted) throw cancelledError();
    const final = path.join(dir, f.path);
    if (fs.existsSync(final) && fileSha256(final) === f.sha256) {
      progress(fs.statSync(final).size);
      continue;
    }
    const part = `${final}.part`;
    fs.mkdirSync(path.dirname(part), { recursive: true });
    if (fs.existsSync(part)) progress(fs.statSync(part).size);
    await fetchFile(new URL(f.path, copy.url.endsWith('/') ? copy.url : `${copy.url}/`).href, part, options.signal, progress);
    const sha = createHash('sha256').update(fs.readFileSync(part)).digest('hex');
    if (sha !== f.sha256) {
      const size = fs.statSync(part).size;
      fs.rmSync(part, { force: true });
      progress(-size);
      throw new LoupeError('INVALID_INPUT', `The downloaded ${f.path} of ${entry.title} is corrupted: its sha256 (${sha.slice(0, 12)}…) is not the registry's (${f.sha256!.slice(0, 12)}…). It was deleted; try again.`);
    }
    fs.renameSync(part, final);
  }
  const found = identifyCopy(entry, dir, copy);
  if (!found.ok) throw new LoupeError('INTERNAL', found.problem ?? `The download of ${entry.title} did not give a usable copy.`);
  return found.backbone;
}
