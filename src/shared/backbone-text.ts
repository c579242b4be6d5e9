// How a backbone's facts read for people, the same in `loupe backbones` and the Backbones panel:
// its size, license and published ImageNet accuracy, whether a copy is here and verified, and the
// extraction speed measured on this machine at each resolution. src/shared imports nothing else.

import { byteSize, num, perSecond, PLAIN_LOCALE } from './format';
import type { BackboneInfo, BackboneSpeed } from './types';

/** "Here, verified" / "Here (not verified)" / "Not here". */
export function backboneHere(b: Pick<BackboneInfo, 'present' | 'verified'>): string {
  return b.present ? (b.verified ? 'Here, verified' : 'Here (not verified)') : 'Not here';
}

/** "22 MB", "8.7 MB", "1.2 KB" (decimal units, as downloads are counted), or null when the size is unknown. */
export function backboneSize(b: Pick<BackboneInfo, 'bytes'>): string | null {
  if (!b.bytes) return null;
  return b.bytes < 1e6 ? byteSize(b.bytes, { unit: 'KB', base: 1000 }) : byteSize(b.bytes, { unit: 'MB', digits: b.bytes < 1e7 ? 1 : 0, base: 1000 });
}

/** "ImageNet top-1 75.8% (published)", or null when unknown. */
export function backboneTop1(b: Pick<BackboneInfo, 'imagenetTop1'>): string | null {
  return b.imagenetTop1 === null ? null : `ImageNet top-1 ${b.imagenetTop1.toFixed(1)}% (published)`;
}

/** Size, license, published accuracy and features, joined: "21.9 MB · Apache-2.0 · ImageNet top-1 75.8% (published) · 1280 features". */
export function backboneFacts(b: Pick<BackboneInfo, 'bytes' | 'license' | 'imagenetTop1' | 'features'>): string {
  return [backboneSize(b), b.license, backboneTop1(b), b.features ? `${num(b.features, PLAIN_LOCALE)} features` : null].filter(Boolean).join(' · ');
}

/** One measured speed: "224 px 118 images/s" (grouped in `locale`; without one, in the reader's own). */
export function speedAt(s: BackboneSpeed, locale?: string): string {
  return `${s.resolution} px ${perSecond(s.imagesPerSecond, 'images', locale)}`;
}

/**
 * Extraction speed here at each resolution it runs at: "128 px 310 images/s · 224 px 118 images/s
 * (160, 192 px not measured)", or "not measured" when none was.
 */
export function backboneSpeeds(b: Pick<BackboneInfo, 'speeds' | 'resolutions'>, locale: string = PLAIN_LOCALE): string {
  if (b.speeds.length === 0) return 'not measured';
  const measured = new Set(b.speeds.map((s) => s.resolution));
  const missing = b.resolutions.filter((r) => !measured.has(r));
  return b.speeds.map((s) => speedAt(s, locale)).join(' · ') + (missing.length > 0 ? ` (${missing.join(', ')} px not measured)` : '');
}
