// The data doctor's pixel and label checks, judged from each image's stored figures
// (image-stats.ts) and the project's labels. Exposure, flat images and greyscale have fixed
// limits; sharpness, size and aspect ratio are judged against the rest of the project (a set of
// small, soft thumbnails is not "blurry"; a project of portraits has no "odd" portrait).

import { IMBALANCE_SHARE } from '../training';
import type { ImageStats } from './image-stats';

export type PixelCheck = 'blurry' | 'tooDark' | 'tooBright' | 'lowInformation' | 'greyscale' | 'oddSize' | 'oddAspect';

export interface CheckedImage {
  index: number;
  width: number;
  height: number;
  /** Null where the image could not be decoded. */
  stats: ImageStats | null;
}

export interface ImageFinding {
  check: PixelCheck;
  /** 0..1: how far past the limit (1 the worst). */
  score: number;
  index: number;
}

/**
 * Mean luma below which an image is too dark, and above which too bright (0..255) when its luma
 * spreads less than BRIGHT_STD as well: washed out. A subject shot on white is bright on average
 * but has its contrast (on CIFAR-10, 2 of the 18 images above 225 in 8,000 spread less than 25:
 * a faded, washed-out pair; the others were planes and birds on white).
 */
export const DARK_MEAN = 30;
export const BRIGHT_MEAN = 225;
export const BRIGHT_STD = 25;
/**
 * Luma spread (standard deviation) below which an image is nearly one colour. Not the histogram's
 * entropy: a product shot on white has most pixels in one bin and is still a good image.
 */
export const FLAT_STD = 6;
/** Blurry: sharpness under a fifth of the project's median and 3 robust deviations below it. */
export const BLUR_FACTOR = 5;
export const BLUR_Z = 3;
/** Channel difference below which an image is greyscale; greyscale is a finding where at most this share of the images is. */
export const GREY_COLOUR = 3;
export const GREY_SHARE = 0.1;
/** Size (side of the same area) or aspect ratio this many times off the project's median, in at most ODD_SHARE of the images. */
export const ODD_SIZE = 4;
export const ODD_ASPECT = 1.5;
export const ODD_SHARE = 0.05;
/** A class with fewer than this share of the largest class's labeled images: the limit training balances at. */
export { IMBALANCE_SHARE };

const clamp01 = (x: number) => Math.max(0, Math.min(1, x));

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export const isFlat = (s: ImageStats) => s.std < FLAT_STD;

export function imageFindings(images: CheckedImage[]): ImageFinding[] {
  const out: ImageFinding[] = [];
  const decoded = images.filter((im): im is CheckedImage & { stats: ImageStats } => im.stats !== null);
  for (const { index, stats: s } of decoded) {
    if (s.mean < DARK_MEAN) out.push({ check: 'tooDark', score: clamp01(1 - s.mean / DARK_MEAN), index });
    if (s.mean > BRIGHT_MEAN && s.std < BRIGHT_STD) out.push({ check: 'tooBright', score: clamp01((s.mean - BRIGHT_MEAN) / (255 - BRIGHT_MEAN)), index });
    if (isFlat(s)) out.push({ check: 'lowInformation', score: clamp01(1 - s.std / FLAT_STD / 2), index });
  }

  // Sharpness on a log scale, against the images that have any texture to be sharp.
  const textured = decoded.filter((im) => !isFlat(im.stats) && im.stats.sharpness > 0);
  const logs = textured.map((im) => Math.log(im.stats.sharpness));
  const mid = median(logs);
  const spread = 1.4826 * median(logs.map((l) => Math.abs(l - mid))) || 1e-6;
  textured.forEach((im, k) => {
    const below = mid - logs[k];
    if (below > Math.log(BLUR_FACTOR) && below / spread > BLUR_Z) out.push({ check: 'blurry', score: clamp01(below / Math.log(100)), index: im.index });
  });

  // A flat image's colour says nothing (a black frame is "greyscale" too): it is judged as flat.
  const grey = textured.filter((im) => im.stats.colour < GREY_COLOUR);
  if (grey.length > 0 && grey.length <= GREY_SHARE * textured.length) {
    for (const im of grey) out.push({ check: 'greyscale', score: 1 - grey.length / textured.length, index: im.index });
  }

  const odd = (check: 'oddSize' | 'oddAspect', value: (im: CheckedImage) => number, limit: number) => {
    const mid = median(images.map((im) => Math.log(value(im))));
    const off = images.filter((im) => Math.abs(Math.log(value(im)) - mid) >= Math.log(limit));
    if (off.length === 0 || off.length > ODD_SHARE * images.length) return;
    for (const im of off) out.push({ check, score: clamp01(Math.abs(Math.log(value(im)) - mid) / Math.log(limit * limit)), index: im.index });
  };
  odd('oddSize', (im) => Math.sqrt(im.width * im.height), ODD_SIZE);
  odd('oddAspect', (im) => im.width / im.height, ODD_ASPECT);
  return out;
}

export interface ClassCount {
  classId: number;
  name: string;
  count: number;
}

/**
 * Classes with under IMBALANCE_SHARE of the largest class's images, with that share. Classes
 * without labeled images yet are left out: a class made before labeling is not a finding.
 */
export function imbalancedClasses(all: ClassCount[]): { cls: ClassCount; share: number; largest: ClassCount }[] {
  const classes = all.filter((c) => c.count > 0);
  if (classes.length < 2) return [];
  const largest = classes.reduce((a, b) => (b.count > a.count ? b : a));
  if (largest.count === 0) return [];
  return classes.filter((c) => c.count < IMBALANCE_SHARE * largest.count).map((cls) => ({ cls, share: cls.count / largest.count, largest }));
}
