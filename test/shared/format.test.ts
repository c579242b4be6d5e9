// The one formatter module: each figure is written as the CLI, the model card and the window
// always wrote it (tests, scripts and users read these strings).

import { describe, expect, it } from 'vitest';
import { byteSize, count, decimal, duration, num, percent, PLAIN_LOCALE, perSecond, seconds } from '../../src/shared/format';

describe('shared formatters', () => {
  it('writes shares as percentages with the caller’s digits, and a dash for none', () => {
    expect(percent(0.934)).toBe('93.4%');
    expect(percent(0.93456, 2)).toBe('93.46%');
    expect(percent(1, 2)).toBe('100.00%');
    expect(percent(0)).toBe('0.0%');
    expect(percent(0.125, 0)).toBe('13%');
    expect(percent(0.285, 0)).toBe(`${Math.round(0.285 * 100)}%`);
    expect(percent(null)).toBe('–');
    expect(percent(undefined, 2)).toBe('–');
  });

  it('groups thousands in a fixed locale for the CLI and files, in the reader’s otherwise', () => {
    expect(num(1234567, PLAIN_LOCALE)).toBe('1,234,567');
    expect(num(12, PLAIN_LOCALE)).toBe('12');
    expect(num(1234567)).toBe((1234567).toLocaleString());
    expect(count(1, 'image', undefined, PLAIN_LOCALE)).toBe('1 image');
    expect(count(1234, 'pass', 'passes', PLAIN_LOCALE)).toBe('1,234 passes');
    expect(count(0, 'folder')).toBe('0 folders');
    expect(perSecond(312.4, 'files', PLAIN_LOCALE)).toBe('312 files/s');
    expect(perSecond(1499.5, 'img', PLAIN_LOCALE)).toBe('1,500 img/s');
  });

  it('writes losses and rates short', () => {
    expect(decimal(0.012345678)).toBe('0.01235');
    expect(decimal(0.001)).toBe('0.001');
    expect(decimal(0.00003)).toBe('3.0e-5');
    expect(decimal(0)).toBe('0');
    expect(decimal(null)).toBe('–');
  });

  it('writes sizes in the unit and base asked for', () => {
    expect(byteSize(12_595, { unit: 'KB' })).toBe('12.3 KB');
    expect(byteSize(8 * 1024 * 1024, { unit: 'MB', digits: 0 })).toBe('8 MB');
    expect(byteSize(21_500_000, { unit: 'MB', digits: 0, base: 1000 })).toBe('22 MB');
    expect(byteSize(16 * 1024 * 1024, { unit: 'MB', digits: 0 })).toBe('16 MB');
  });

  it('writes durations as words (the window), a clock (the CLI) or tenths under a minute', () => {
    expect(duration(42.4)).toBe('42 s');
    expect(duration(185)).toBe('3 min 5 s');
    expect(duration(4800)).toBe('1 h 20 min');
    expect(duration(-3)).toBe('0 s');
    expect(duration(8.01, 'clock')).toBe('0:08');
    expect(duration(185, 'clock')).toBe('3:05');
    expect(duration(4800, 'clock')).toBe('1:20:00');
    expect(duration(6.44, 'tenths')).toBe('6.4 s');
    expect(duration(59.97, 'tenths')).toBe('60.0 s');
    expect(duration(75, 'tenths')).toBe('1 min 15 s');
    expect(duration(0.2, 'rough')).toBe('1 s');
    expect(duration(89, 'rough')).toBe('89 s');
    expect(duration(200, 'rough')).toBe('3 min');
    expect(duration(3599, 'rough')).toBe('60 min');
    expect(duration(4830, 'rough')).toBe('1 h 21 min');
    expect(seconds(1.234, 2)).toBe('1.23 s');
  });
});
