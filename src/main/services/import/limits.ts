// Bounds on what one file may cost to import, and the thumbnail size.

export interface ImageLimits {
  /** Decoded pixels (width × height) above which a file is refused as a decompression bomb. */
  maxPixels: number;
  /** Bytes above which a file is refused unread. */
  maxBytes: number;
  /** Thumbnails fit in this square; smaller images (in a format browsers show) are their own. */
  thumbSize: number;
}

export const DEFAULT_LIMITS: ImageLimits = {
  maxPixels: 150_000_000,
  maxBytes: 512 * 1024 * 1024,
  thumbSize: 256,
};
