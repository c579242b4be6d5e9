// Progress of long work on stderr: one line rewritten in place on a terminal, a line every few
// seconds otherwise (logs, CI), with done/total, items per second and time left once known.

import { ProgressMeter, systemClock, type Clock } from '../jobs/progress';
import { duration, num, PLAIN_LOCALE, perSecond } from '../../shared/format';

export interface ProgressLine {
  update(done: number, total: number | null, phase: string): void;
  /** Seconds the current step is expected to take in all, until it has measured its own speed. */
  expect(seconds: number | null): void;
  /** Forgets an update not yet shown (it is out of date: something else was printed since). */
  discard(): void;
  end(): void;
}

export function progressText(done: number, total: number | null, phase: string, rate: number | null, eta: number | null, unit: string): string {
  // A step that counts nothing yet (or nothing at all) is named alone: "Writing files…".
  if (done === 0 && (total === null || total === 0)) return `${phase}…`;
  const parts = [`${phase}: ${num(done, PLAIN_LOCALE)}${total === null ? '' : `/${num(total, PLAIN_LOCALE)}`}`];
  if (rate !== null) parts.push(perSecond(rate, unit, PLAIN_LOCALE));
  if (eta !== null) parts.push(`ETA ${duration(eta, 'clock')}`);
  return parts.join('  ');
}

export function progressLine(
  write: (text: string) => void,
  options: { tty: boolean; unit?: string; clock?: Clock; intervalMs?: number } = { tty: false },
): ProgressLine {
  const clock = options.clock ?? systemClock;
  const interval = options.intervalMs ?? (options.tty ? 200 : 2000);
  const meter = new ProgressMeter(clock);
  let last = -Infinity;
  let shown = '';
  let pending: string | null = null;
  let phaseShown = '';
  const show = (text: string) => {
    if (options.tty) write(`\r\x1b[2K${text}`);
    else write(`${text}\n`);
    shown = text;
    pending = null;
  };
  return {
    update(done, total, phase) {
      const { ratePerSecond, etaSeconds } = meter.update(done, total);
      const text = progressText(done, total, phase, ratePerSecond, etaSeconds, options.unit ?? 'files');
      const now = clock();
      if (now - last >= interval || phase !== phaseShown) {
        last = now;
        phaseShown = phase;
        show(text);
      } else pending = text;
    },
    expect(seconds) {
      meter.expect(seconds);
    },
    discard() {
      pending = null;
    },
    end() {
      if (pending !== null && pending !== shown) show(pending);
      if (options.tty && shown) write('\n');
    },
  };
}
