// Why a file was not imported, in sentences a person can act on.

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

/** Turns a decoder (libvips) error into a reason; the decoder's own words follow a colon. */
export function decodeErrorReason(err: unknown, pixelLimit: number): string {
  const message = err instanceof Error ? err.message : String(err);
  const detail = message.split('\n')[0].trim().slice(0, 160);
  if (/pixel limit/i.test(message)) return tooManyPixels(null, pixelLimit);
  if (/premature end|truncat|read error|bad seek|unexpected end|not enough data|end of file|short read/i.test(message)) {
    return `The image is truncated or damaged: ${detail}`;
  }
  if (/unsupported image format|corrupt header/i.test(message)) return `The image cannot be read: ${detail}`;
  return `The image cannot be decoded: ${detail}`;
}

export function tooManyPixels(dims: { width: number; height: number } | null, pixelLimit: number): string {
  const limit = `${(pixelLimit / 1e6).toLocaleString('en-US')} megapixels`;
  const what = dims ? `${dims.width}×${dims.height} pixels is` : 'The image is';
  return `${what} over the limit of ${limit}: refused as a possible decompression bomb.`;
}
