// Downloading a backbone into the app data folder. Its files are content-addressed (sha256 and
// size in the registry), so any mirror may serve them: mirrors are tried in order, file by file,
// each into `<file>.part`, resumed with an HTTP Range request (from whichever mirror answers next)
// after an interruption, and checked before anything is renamed into place. A file that is not
// the registry's (wrong size or sha256) is deleted and never used; when every mirror fails, the
// error says what each one did.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../../shared/errors';
import { cancelledError } from '../../jobs/jobs';
import { fileSha256, identifyCopy, type ResolvedBackbone } from './locate';
import { backbonesHome, type BackboneCopy, type BackboneEntry, type BackboneFile } from './registry';

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

const sizeOf = (file: string) => (fs.existsSync(file) ? fs.statSync(file).size : 0);

/** What one mirror did with one file: done (the .part holds the whole file), or why not. */
type Attempt = { ok: true } | { ok: false; why: string };

/**
 * Fetches `url` into `part`, resuming what is there. Only a cancel throws; every other failure is
 * an answer, so the next mirror can be tried.
 */
async function fetchInto(url: string, part: string, want: BackboneFile, signal: AbortSignal | undefined, onBytes: (n: number) => void): Promise<Attempt> {
  let have = sizeOf(part);
  if (want.bytes !== undefined && have > want.bytes) {
    // Longer than the file can be: not a prefix of it.
    fs.rmSync(part, { force: true });
    onBytes(-have);
    have = 0;
  }
  if (want.bytes !== undefined && have === want.bytes) return { ok: true };
  let res: Response;
  try {
    res = await fetch(url, { signal, headers: have > 0 ? { Range: `bytes=${have}-` } : {} });
  } catch (err) {
    if (signal?.aborted) throw cancelledError();
    return { ok: false, why: `could not be reached (${describe(err)})` };
  }
  if (res.status === 416 && have > 0) return { ok: true }; // the server has no more: check what we have
  if (res.status !== 200 && res.status !== 206) {
    await res.body?.cancel().catch(() => {});
    return { ok: false, why: `answered ${res.status}${res.statusText ? ` ${res.statusText}` : ''}` };
  }
  // 200 to a Range request: the server starts over, so does the file.
  const append = res.status === 206 && have > 0;
  if (!append && have > 0) onBytes(-have);
  const out = fs.openSync(part, append ? 'a' : 'w');
  let got = 0;
  try {
    if (res.body) {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        fs.writeSync(out, chunk);
        got += chunk.byteLength;
        onBytes(chunk.byteLength);
      }
    }
  } catch (err) {
    if (signal?.aborted) throw cancelledError();
    return { ok: false, why: `broke off after ${got.toLocaleString('en-US')} bytes (${describe(err)}); what came is kept and resumed` };
  } finally {
    fs.closeSync(out);
  }
  return { ok: true };
}

/** Checks a fetched .part against the registry: null when it is the file, else what is wrong. */
function checkPart(part: string, want: BackboneFile): string | null {
  const size = sizeOf(part);
  if (want.bytes !== undefined && size < want.bytes) return `sent ${size.toLocaleString('en-US')} of ${want.bytes.toLocaleString('en-US')} bytes`;
  if (want.bytes !== undefined && size > want.bytes) return `sent ${size.toLocaleString('en-US')} bytes, not ${want.bytes.toLocaleString('en-US')}: another file`;
  const sha = createHash('sha256').update(fs.readFileSync(part)).digest('hex');
  return sha === want.sha256 ? null : `sent a file whose sha256 (${sha.slice(0, 12)}…) is not the registry's (${want.sha256!.slice(0, 12)}…)`;
}

const fileUrl = (mirror: string, file: string) => new URL(file, mirror.endsWith('/') ? mirror : `${mirror}/`).href;

/** Fetches one file from the first mirror that serves the registry's bytes; throws, saying what each did, when none does. */
async function fetchVerified(entry: BackboneEntry, copy: BackboneCopy, want: BackboneFile, final: string, options: DownloadOptions, progress: (n: number) => void): Promise<void> {
  const part = `${final}.part`;
  fs.mkdirSync(path.dirname(part), { recursive: true });
  const tried: string[] = [];
  for (const mirror of copy.mirrors) {
    const url = fileUrl(mirror, want.path);
    const host = new URL(url).host;
    // A resumed file that fails its check may hold another mirror's bad bytes: fetch it whole once more.
    for (let fresh = sizeOf(part) === 0; ; fresh = true) {
      if (options.signal?.aborted) throw cancelledError();
      const attempt = await fetchInto(url, part, want, options.signal, progress);
      if (!attempt.ok) {
        tried.push(`${host}: ${attempt.why}`);
        break;
      }
      const wrong = checkPart(part, want);
      if (!wrong) {
        fs.renameSync(part, final);
        return;
      }
      if (want.bytes !== undefined && sizeOf(part) < want.bytes) {
        // Short but possibly right so far: keep it for the next mirror to complete.
        tried.push(`${host}: ${wrong}`);
        break;
      }
      const size = sizeOf(part);
      fs.rmSync(part, { force: true });
      progress(-size);
      if (fresh) {
        tried.push(`${host}: ${wrong}; it was deleted`);
        break;
      }
    }
  }
  const kept = sizeOf(part);
  throw new LoupeError(
    'IO_ERROR',
    `Could not download ${want.path} of ${entry.title} from any of its ${copy.mirrors.length} mirror${copy.mirrors.length === 1 ? '' : 's'}:\n` +
      tried.map((t) => `- ${t}`).join('\n') +
      (kept > 0 ? `\n${kept.toLocaleString('en-US')} bytes are kept; try again to resume.` : '\nTry again later, or fetch the file yourself and add it (loupe backbones add <file>): Loupe recognises it by its sha256.'),
  );
}

/** Downloads (or completes) `copy` of `entry`; returns the verified backbone. */
export async function downloadCopy(entry: BackboneEntry, copy: BackboneCopy, options: DownloadOptions = {}): Promise<ResolvedBackbone> {
  if (copy.mirrors.length === 0) throw new LoupeError('INVALID_INPUT', `${entry.title} (${copy.title}) has no download source.`);
  const unpinned = copy.files.filter((f) => f.sha256 === null);
  if (unpinned.length > 0) {
    throw new LoupeError(
      'NOT_SUPPORTED',
      `Loupe downloads only files it can verify, and the registry has no checksums for ${entry.title}'s official files yet (${unpinned.length} of ${copy.files.length}). ` +
        `Fetch them from ${copy.mirrors[0]} yourself and add the folder, or pin them (resources/BACKBONES.md).`,
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
    if (fs.existsSync(part)) progress(fs.statSync(part).size);
    await fetchVerified(entry, copy, f, final, options, progress);
  }
  const found = identifyCopy(entry, entry.format === 'onnx' ? path.join(dir, copy.files[0].path) : dir, copy);
  if (!found.ok) throw new LoupeError('INTERNAL', found.problem ?? `The download of ${entry.title} did not give a usable copy.`);
  return found.backbone;
}
