// Image formats Loupe imports, recognised by their content (never by the file name), and the
// dimensions their headers declare (to pick a decoding path before decoding).

export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif';

/** The extension an image gets in the project's media folder. */
export const MEDIA_EXT: Record<ImageFormat, string> = {
  jpeg: 'jpg',
  png: 'png',
  webp: 'webp',
  gif: 'gif',
  tiff: 'tiff',
  avif: 'avif',
};

/** Formats a browser shows as they are; others (TIFF) always get a thumbnail. */
export const DISPLAYABLE: ReadonlySet<ImageFormat> = new Set(['jpeg', 'png', 'webp', 'gif', 'avif']);

export const SUPPORTED_FORMATS = 'JPEG, PNG, WebP, GIF, TIFF and AVIF';

export type Sniffed = { format: ImageFormat } | { other: string } | null;

const ascii = (buf: Buffer, start: number, end: number) => buf.toString('latin1', start, end);

/** Recognises an image format from the first bytes; `other` names a known but unsupported one. */
export function sniffFormat(buf: Buffer): Sniffed {
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return { format: 'jpeg' };
  if (buf.length >= 8 && buf.readUInt32BE(0) === 0x89504e47 && buf.readUInt32BE(4) === 0x0d0a1a0a) return { format: 'png' };
  if (buf.length >= 6 && (ascii(buf, 0, 6) === 'GIF87a' || ascii(buf, 0, 6) === 'GIF89a')) return { format: 'gif' };
  if (buf.length >= 12 && ascii(buf, 0, 4) === 'RIFF' && ascii(buf, 8, 12) === 'WEBP') return { format: 'webp' };
  if (buf.length >= 4 && (ascii(buf, 0, 4) === 'II*\0' || ascii(buf, 0, 4) === 'MM\0*')) return { format: 'tiff' };
  if (buf.length >= 12 && ascii(buf, 4, 8) === 'ftyp') {
    const size = Math.min(buf.readUInt32BE(0), buf.length, 256);
    const brands: string[] = [ascii(buf, 8, 12)];
    for (let o = 16; o + 4 <= size; o += 4) brands.push(ascii(buf, o, o + 4));
    if (brands.includes('avif') || brands.includes('avis')) return { format: 'avif' };
    if (brands.some((b) => ['heic', 'heix', 'hevc', 'heim', 'heis', 'mif1', 'msf1'].includes(b))) return { other: 'HEIC' };
    return null;
  }
  if (buf.length >= 2 && ascii(buf, 0, 2) === 'BM') return { other: 'BMP' };
  if (buf.length >= 4 && ascii(buf, 0, 4) === '8BPS') return { other: 'Photoshop (PSD)' };
  if (buf.length >= 4 && ascii(buf, 0, 4) === '%PDF') return { other: 'PDF' };
  if (buf.length >= 4 && buf.readUInt32BE(0) === 0x00000100) return { other: 'ICO' };
  if ((buf.length >= 2 && buf[0] === 0xff && buf[1] === 0x0a) || (buf.length >= 12 && ascii(buf, 4, 8) === 'JXL ')) {
    return { other: 'JPEG XL' };
  }
  const head = ascii(buf, 0, Math.min(buf.length, 512)).trimStart().toLowerCase();
  if (head.startsWith('<svg') || (head.startsWith('<?xml') && head.includes('<svg'))) return { other: 'SVG' };
  return null;
}

export interface Dimensions {
  width: number;
  height: number;
  /** Channels the file stores (1 gray, 2 gray+alpha, 3 colour, 4 with alpha), when known. */
  channels?: number;
}

const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 3, 4: 2, 6: 4 };

/**
 * Width and height (and channels, where cheap) as the header declares them, for JPEG, PNG, GIF
 * and WebP (null otherwise or when the header is not understood). Used to choose how to decode
 * and to record what the file holds; the decoder has the final word on whether it is valid.
 */
export function headerDimensions(format: ImageFormat, buf: Buffer): Dimensions | null {
  try {
    switch (format) {
      case 'png':
        return buf.length >= 26 ? { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20), channels: PNG_CHANNELS[buf[25]] } : null;
      case 'gif':
        return buf.length >= 10 ? { width: buf.readUInt16LE(6), height: buf.readUInt16LE(8) } : null;
      case 'webp':
        return webpDimensions(buf);
      case 'jpeg':
        return jpegDimensions(buf);
      default:
        return null;
    }
  } catch {
    return null;
  }
}

function webpDimensions(buf: Buffer): Dimensions | null {
  const chunk = ascii(buf, 12, 16);
  if (chunk === 'VP8 ' && buf.length >= 30) {
    return { width: buf.readUInt16LE(26) & 0x3fff, height: buf.readUInt16LE(28) & 0x3fff, channels: 3 };
  }
  if (chunk === 'VP8L' && buf.length >= 25) {
    const bits = buf.readUInt32LE(21);
    return { width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1, channels: (bits >>> 28) & 1 ? 4 : 3 };
  }
  if (chunk === 'VP8X' && buf.length >= 30) {
    return { width: buf.readUIntLE(24, 3) + 1, height: buf.readUIntLE(27, 3) + 1, channels: buf[20] & 0x10 ? 4 : 3 };
  }
  return null;
}

const SOF = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

function jpegDimensions(buf: Buffer): Dimensions | null {
  let o = 2;
  while (o + 9 < buf.length) {
    if (buf[o] !== 0xff) return null;
    const marker = buf[o + 1];
    if (marker === 0xff) {
      o += 1; // fill byte
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      o += 2;
      continue;
    }
    if (SOF.has(marker)) return { height: buf.readUInt16BE(o + 5), width: buf.readUInt16BE(o + 7), channels: buf[o + 9] };
    if (marker === 0xda || marker === 0xd9) return null;
    o += 2 + buf.readUInt16BE(o + 2);
  }
  return null;
}

/**
 * Whether the file visibly ends too early (no end marker where the format puts one). libvips
 * keeps its error text in one buffer for all threads, so under load a decoder error can arrive
 * as "Unknown error"; this check gives truncated files a reliable reason all the same.
 */
/** A TIFF whose first image directory starts past the end of the file (cut off, or damaged). */
export function tiffDirectoryPastEnd(buf: Buffer): boolean {
  if (buf.length < 8) return true;
  const offset = ascii(buf, 0, 2) === 'II' ? buf.readUInt32LE(4) : buf.readUInt32BE(4);
  // A directory is at least its 2-byte entry count.
  return offset + 2 > buf.length;
}

export function looksTruncated(format: ImageFormat, buf: Buffer): boolean {
  const tail = buf.subarray(Math.max(0, buf.length - 64));
  switch (format) {
    case 'jpeg':
      return tail.lastIndexOf(Buffer.from([0xff, 0xd9])) < 0;
    case 'png':
      return tail.lastIndexOf(Buffer.from('IEND', 'latin1')) < 0;
    case 'gif':
      return buf[buf.length - 1] !== 0x3b;
    case 'webp':
      return buf.length >= 12 && buf.readUInt32LE(4) + 8 > buf.length;
    default:
      return false;
  }
}
