// How Loupe writes figures for people: percentages, counts, rates, sizes and durations, one
// function each for the CLI, the model card and the window. Where those front ends have always
// written a figure differently (the CLI's fixed "en-US" grouping and "m:ss" times, the window's
// own locale and "3 min 5 s"), an option keeps each one's text, so nothing a user, a script or a
// test reads changes. src/shared imports nothing.

/** The locale of text that scripts and tests read (the CLI, files): the same on every machine. */
export const PLAIN_LOCALE = 'en-US';

/** A share (0–1) as a percentage: "93.4%" with `digits` after the point, a dash when there is none. */
export function percent(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined ? '–' : `${(x * 100).toFixed(digits)}%`;
}

/** A count with thousands separators: "12,345" in `locale`; without one, in the reader's own. */
export function num(n: number, locale?: string): string {
  return n.toLocaleString(locale);
}

/** A count and its noun: "1 image", "1,234 images", "2 passes". */
export function count(n: number, one: string, many = `${one}s`, locale?: string): string {
  return `${num(n, locale)} ${n === 1 ? one : many}`;
}

/** A rate, whole items per second: "1,234 images/s". */
export function perSecond(n: number, unit: string, locale?: string): string {
  return `${num(Math.round(n), locale)} ${unit}/s`;
}

/** A loss or learning rate: short, without trailing noise ("0.0123", "3e-5"), a dash when there is none. */
export function decimal(x: number | null | undefined): string {
  if (x === null || x === undefined) return '–';
  return Math.abs(x) >= 1e-4 || x === 0 ? String(Number(x.toPrecision(4))) : x.toExponential(1);
}

export interface ByteSizeOptions {
  unit: 'KB' | 'MB';
  /** Digits after the point (default 1). */
  digits?: number;
  /** 1024 (the default: what the file's size is in binary units) or 1000 (a download's size, as registries give it). */
  base?: 1000 | 1024;
}

/** A size in one unit: "12.3 KB", "8 MB". */
export function byteSize(n: number, { unit, digits = 1, base = 1024 }: ByteSizeOptions): string {
  const scaled = n / (unit === 'KB' ? base : base * base);
  return `${scaled.toFixed(digits)} ${unit}`;
}

/** Seconds with their fraction: "6.4 s" (a step's time as measured). */
export function seconds(s: number, digits = 1): string {
  return `${s.toFixed(digits)} s`;
}

/**
 * A duration, whole seconds. `words` (the window): "42 s", "3 min 5 s", "1 h 20 min".
 * `clock` (the CLI): "0:42", "3:05", "1:20:00". `tenths` (a run's parts): "6.4 s" under a
 * minute, words above. `rough` (an estimate, rounded as one should be): "42 s", "3 min", "1 h 20 min".
 */
export function duration(totalSeconds: number, style: 'words' | 'clock' | 'tenths' | 'rough' = 'words'): string {
  if (style === 'tenths' && totalSeconds < 60) return seconds(totalSeconds);
  if (style === 'rough') return roughDuration(totalSeconds);
  const t = Math.max(0, Math.round(totalSeconds));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  if (style === 'clock') {
    const rest = String(t % 60).padStart(2, '0');
    return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
  }
  if (h > 0) return `${h} h ${m} min`;
  if (t >= 60) return `${m} min ${t % 60} s`;
  return `${t} s`;
}

function roughDuration(totalSeconds: number): string {
  const t = Math.max(1, Math.round(totalSeconds));
  if (t < 90) return `${t} s`;
  if (t < 3600) return `${Math.round(t / 60)} min`;
  return `${Math.floor(t / 3600)} h ${Math.round((t % 3600) / 60)} min`;
}
