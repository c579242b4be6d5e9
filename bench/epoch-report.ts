// Per-epoch throughput of a run, from its recorded history (`npm run bench:train -- --dataset`):
// each epoch's seconds and images/s, then the first half's mean rate against the second half's,
// so that a run slowing down as it goes shows beside one that holds its pace.

import type { EpochMetrics } from '../src/shared/types';

const num = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Lines of a table (epoch, seconds with validation, training images/s, validation accuracy) and a summary line. */
export function epochReport(history: EpochMetrics[]): string[] {
  const lines = ['epoch  seconds  images/s  val acc'];
  for (const e of history) {
    const acc = e.valAccuracy === null ? '      -' : `${num(100 * e.valAccuracy, 2).padStart(6)}%`;
    lines.push(`${String(e.epoch).padStart(5)}  ${num(e.seconds, 1).padStart(7)}  ${num(e.imagesPerSecond).padStart(8)}  ${acc}`);
  }
  if (history.length < 2) return lines;
  const mean = (xs: EpochMetrics[]) => xs.reduce((a, e) => a + e.imagesPerSecond, 0) / xs.length;
  const half = Math.floor(history.length / 2);
  const first = mean(history.slice(0, half));
  const last = mean(history.slice(history.length - half));
  const change = (100 * (last - first)) / first;
  const rates = history.map((e) => e.imagesPerSecond);
  lines.push(
    `Per-epoch rate: first ${half} epochs ${num(first)} img/s, last ${half} ${num(last)} img/s (${change >= 0 ? '+' : ''}${num(change, 1)}%); ` +
      `slowest epoch ${num(Math.min(...rates))}, fastest ${num(Math.max(...rates))} img/s`,
  );
  return lines;
}
