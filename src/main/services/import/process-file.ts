// The work one source file takes, in a worker: read it, recognise and hash it, decode it fully
// (refusing truncated data and decompression bombs), make its thumbnail, and write both into the
// project. Problems with the file become a reason; problems with the project (a full disk) throw.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import sharp, { type Metadata } from 'sharp';
import { mediaRelPath, thumbRelPath } from '../../store/media';
import { DISPLAYABLE, headerDimensions, MEDIA_EXT, sniffFormat, SUPPORTED_FORMATS, type ImageFormat } from '../pixels/formats';
import type { KnownHashes } from './known-hashes';
import type { ImageLimits } from './limits';
import type { MediaWriter } from './media-writer';
import type { FileOutcome } from './protocol';
import { decodeFailureReason, fsErrorReason, tooManyPixels } from '../pixels/decode-reasons';

export interface FileContext {
  limits: ImageLimits;
  known: KnownHashes;
  writer: MediaWriter;
}

class Refused extends Error {}

const fail = (reason: string): FileOutcome => ({ ok: false, reason });

export async function processFile(file: string, ctx: FileContext, inMemory?: Uint8Array): Promise<FileOutcome> {
  let bytes: Buffer;
  try {
    bytes = inMemory ? Buffer.from(inMemory.buffer, inMemory.byteOffset, inMemory.byteLength) : readWhole(file, ctx.limits.maxBytes);
  } catch (err) {
    return fail(err instanceof Refused ? err.message : fsErrorReason(err));
  }
  if (bytes.length === 0) return fail('The file is empty (0 bytes).');
  const sniffed = sniffFormat(bytes);
  if (!sniffed) return fail(`Not an image: the content is none of ${SUPPORTED_FORMATS.replace(' and ', ' or ')}.`);
  if ('other' in sniffed) return fail(`${sniffed.other} is not supported; Loupe imports ${SUPPORTED_FORMATS}.`);
  const { format } = sniffed;

  const digest = createHash('sha256').update(bytes).digest();
  const hash = digest.toString('hex');
  if (ctx.known.has(digest)) return { ok: true, hash, duplicate: true };

  let decoded: Decoded;
  try {
    decoded = await decode(bytes, format, ctx.limits);
  } catch (err) {
    return fail(decodeFailureReason(err, bytes, format, ctx.limits.maxPixels));
  }
  if ('refused' in decoded) return fail(decoded.refused);

  ctx.writer.put(mediaRelPath(hash, MEDIA_EXT[format]), bytes);
  if (decoded.thumb) ctx.writer.put(thumbRelPath(hash), decoded.thumb);
  const { width, height, channels } = decoded;
  return { ok: true, hash, duplicate: false, format, width, height, channels, bytes: bytes.length };
}

/** Reads a regular file whole, refusing anything else (a FIFO would block) or anything huge. */
function readWhole(file: string, maxBytes: number): Buffer {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new Refused('Not a regular file (a device, socket or pipe).');
    if (stat.size > maxBytes) {
      throw new Refused(`The file is larger than ${Math.round(maxBytes / 1024 / 1024)} MB.`);
    }
    const buf = Buffer.allocUnsafe(stat.size);
    let off = 0;
    while (off < buf.length) {
      const n = fs.readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break; // shrank while we read: what we have will not decode
      off += n;
    }
    return off === buf.length ? buf : buf.subarray(0, off);
  } finally {
    fs.closeSync(fd);
  }
}

type Decoded = { width: number; height: number; channels: number; thumb: Buffer | null } | { refused: string };

/**
 * Decodes the whole image (that is the validation: a truncated file fails here), with EXIF
 * orientation applied, so width and height are as people see the image.
 *
 * Small images (no larger than a thumbnail; most data sets) take one decode to raw pixels.
 * Larger ones go through a thumbnail pipeline that still reads every byte (libvips fails on
 * truncation there too) but shrinks while it loads, so a big photo never sits in memory whole.
 */
async function decode(bytes: Buffer, format: ImageFormat, limits: ImageLimits): Promise<Decoded> {
  const options = { failOn: 'truncated', limitInputPixels: limits.maxPixels } as const;
  const size = limits.thumbSize;
  let meta: Metadata | null = null;
  let dims = headerDimensions(format, bytes);
  if (!dims) {
    meta = await sharp(bytes, options).metadata();
    dims = { width: meta.width ?? 0, height: meta.height ?? 0 };
  }
  if (dims.width * dims.height > limits.maxPixels) return { refused: tooManyPixels(dims, limits.maxPixels) };

  if (Math.max(dims.width, dims.height) <= size) {
    const { data, info } = await sharp(bytes, options).autoOrient().raw().toBuffer({ resolveWithObject: true });
    const { width, height } = info;
    // Decoding converts to sRGB; record what the file holds (a gray PNG has 1 channel).
    const channels = dims.channels ?? meta?.channels ?? info.channels;
    const needsThumb = !DISPLAYABLE.has(format) || Math.max(width, height) > size;
    const thumb = needsThumb
      ? await sharp(data, { raw: { width, height, channels: info.channels } })
          .resize(size, size, { fit: 'inside', withoutEnlargement: true })
          .webp({ quality: 80 })
          .toBuffer()
      : null;
    return { width, height, channels, thumb };
  }

  meta ??= await sharp(bytes, options).metadata();
  const thumb = await sharp(bytes, options)
    .autoOrient()
    .resize(size, size, { fit: 'inside', withoutEnlargement: true })
    .webp({ quality: 80 })
    .toBuffer();
  const turned = (meta.orientation ?? 1) >= 5;
  const width = meta.width ?? dims.width;
  const height = meta.height ?? dims.height;
  return { width: turned ? height : width, height: turned ? width : height, channels: meta.channels ?? 3, thumb };
}
