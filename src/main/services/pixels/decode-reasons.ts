// Why a file was not imported, in sentences a person can act on.

import { headerDimensions, looksTruncated, tiffDirectoryPastEnd, type ImageFormat } from './formats';

export function fsErrorReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'Permission denied: Loupe may not read this file.';
    case 'ENOENT':
      return 'The file is gone (moved or deleted before Loupe could read it).';
    case 'ELOOP':
      return 'A symbolic link loop.';
    case 'EISDIR':
      return 'A folder, not a file.';
    case 'ENAMETOOLONG':
      return 'The path is too long.';
    case 'EIO':
      return 'The disk reported an error reading this file (EIO).';
    default:
      return `Cannot read the file (${code ?? (err instanceof Error ? err.message : String(err))}).`;
  }
}

const FORMAT_NAME: Record<ImageFormat, string> = { jpeg: 'JPEG', png: 'PNG', webp: 'WebP', gif: 'GIF', tiff: 'TIFF', avif: 'AVIF' };
/** How libvips' loaders name themselves in their messages ("VipsJpeg:", "vipspng:", "gifload_buffer:"). */
const LOADER_WORD: Record<ImageFormat, RegExp> = { jpeg: /jpe?g/i, png: /png/i, webp: /webp/i, gif: /gif/i, tiff: /tiff/i, avif: /heif|avif/i };

/** libvips' word for bytes no loader recognises: never this file, whose format its first bytes gave. */
const NO_FORMAT = /not in a known format|not a known file format/i;

/**
 * The decoder's lines that can be about this file. libvips keeps one error log for the whole
 * process, so while other images decode on other threads it can hold their messages too (see
 * libvips/libvips#707): a line naming another format's loader is someone else's, and so is
 * "buffer is not in a known format" (a non-image decoded beside it, such as a dropped text file).
 */
function ownLines(message: string, format: ImageFormat): string[] {
  const others = (Object.keys(LOADER_WORD) as ImageFormat[]).filter((f) => f !== format);
  return message
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !NO_FORMAT.test(line))
    .filter((line) => LOADER_WORD[format].test(line) || !others.some((f) => LOADER_WORD[f].test(line)));
}

/**
 * Turns a decoder (libvips, through sharp) error into a reason; the decoder's own words follow a
 * colon. The format is known from the file's first bytes, so "unsupported format" means damage.
 */
export function decodeErrorReason(err: unknown, pixelLimit: number, format: ImageFormat): string {
  const message = err instanceof Error ? err.message : String(err);
  const name = FORMAT_NAME[format];
  if (/pixel limit/i.test(message)) return tooManyPixels(null, pixelLimit);
  // sharp's own words come first ("Input buffer has corrupt header: ..."); the rest is libvips'.
  const header = /^Input (buffer|file) has corrupt header:?/i.exec(message);
  const lines = ownLines(header ? message.slice(header[0].length) : message, format);
  const said = [...new Set(lines.filter((l) => !/^unknown error$/i.test(l)))].join('; ').slice(0, 160);
  const quote = said ? `: ${said}` : '.';
  if (/unsupported image format/i.test(message)) return `The ${name} file is damaged: it starts as a ${name} does, but the decoder cannot read it.`;
  if (header) return `The ${name} file's header is damaged${quote}`;
  if (/premature end|truncat|read error|bad seek|unexpected end|not enough data|end of file|short read/i.test(said)) {
    return `The ${name} file is truncated or damaged${quote}`;
  }
  return `The ${name} file cannot be decoded${said ? quote : ': its image data is damaged.'}`;
}

/**
 * Why a file whose first bytes say `format` did not decode: cut off (its end marker or a TIFF's
 * directory missing), a header that declares no pixels, or what the decoder said about it. What
 * the bytes show comes first: the decoder's words can carry another thread's failure (see above).
 */
export function decodeFailureReason(err: unknown, bytes: Buffer, format: ImageFormat, pixelLimit: number): string {
  if (looksTruncated(format, bytes)) return `The ${FORMAT_NAME[format]} file is truncated: it ends before its image data does.`;
  const dims = headerDimensions(format, bytes);
  if (dims && (dims.width === 0 || dims.height === 0)) return `The ${FORMAT_NAME[format]} file's header is damaged: it declares ${dims.width}×${dims.height} pixels.`;
  if (format === 'tiff' && tiffDirectoryPastEnd(bytes)) return 'The TIFF file is truncated or damaged: its image directory lies past the end of the file.';
  return decodeErrorReason(err, pixelLimit, format);
}

export function tooManyPixels(dims: { width: number; height: number } | null, pixelLimit: number): string {
  const limit = `${(pixelLimit / 1e6).toLocaleString('en-US')} megapixels`;
  const what = dims ? `${dims.width}×${dims.height} pixels is` : 'The image is';
  return `${what} over the limit of ${limit}: refused as a possible decompression bomb.`;
}
