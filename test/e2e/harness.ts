// Starts the real `loupe serve` (the built app) and Debian's Chromium through playwright-core.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import path from 'node:path';
import { makeTinyBackbone, TINY_ID, writeTinyRegistry } from '../services/backbones/backbone-helpers';
import { makeFixtureProject } from '../fixtures';
import { cliPath, onCleanup, tempDir } from '../helpers';

export const CHROMIUM = process.env.LOUPE_CHROMIUM ?? '/usr/bin/chromium';
export const hasChromium = fs.existsSync(CHROMIUM);

/**
 * For a poll or wait on what a running job produces (progress, curves, time left, counts,
 * statuses), on the plan's timing of this machine, or on a reconnection: generous, since a loaded CI machine can take seconds where a
 * quiet one takes milliseconds (vitest's default poll timeout is 1 s). It bounds only failures.
 */
export const JOB_WAIT = { timeout: 30_000 } as const;

export interface Served {
  openUrl: string;
  origin: string;
  home: string;
  proc: ChildProcess;
}

export async function serve(args: string[] = [], env: Record<string, string> = {}): Promise<Served> {
  const home = env.LOUPE_HOME ?? tempDir('loupe-home-');
  const proc = spawn(process.execPath, [cliPath, 'serve', ...args], {
    env: { ...process.env, LOUPE_HOME: home, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  );
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  const openUrl = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /(http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+)/.exec(out);
      if (m) resolve(m[1]);
    });
    proc.once('exit', (code) => reject(new Error(`loupe serve exited (${code}): ${stderr}`)));
  });
  return { openUrl, origin: new URL(openUrl).origin, home, proc };
}

export async function launch(): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  onCleanup(() => browser.close());
  return browser;
}

/** A page that records console errors and CSP violations, which the test then asserts away. */
export async function newPage(browser: Browser): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const problems: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(msg.text());
  });
  page.on('pageerror', (err) => problems.push(err.message));
  return { page, problems };
}

export type Watched = { __sockets: WebSocket[]; __sawReconnecting?: boolean; __offline?: boolean };

/**
 * Keeps the page's sockets within reach (window.__sockets), so a test can drop one as a network
 * would and hold the connection down (window.__offline), and notes whether the reconnecting
 * banner was ever shown (__sawReconnecting; it may be up only for a moment). Before `goto`.
 */
export async function watchSockets(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const w = window as unknown as Watched;
    w.__sockets = [];
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
      constructor(url: string | URL, protocols?: string | string[]) {
        // Held down (__offline): the connection fails at once, as with the network gone.
        if (w.__offline) {
          const down = { readyState: 3, send() {}, close() {}, onopen: null, onmessage: null, onerror: null, onclose: null as ((e: unknown) => void) | null };
          setTimeout(() => down.onclose?.({ code: 1006 }));
          return down as never;
        }
        super(url, protocols);
        w.__sockets.push(this);
      }
    };
    const look = () => (w.__sawReconnecting ||= document.querySelector('[data-testid=reconnecting]') !== null);
    new MutationObserver(look).observe(document, { childList: true, subtree: true });
  });
}

/** Drops the page's connection and holds it down until `reconnect`. */
export async function dropConnection(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as Watched;
    w.__offline = true;
    w.__sockets.at(-1)!.close();
  });
  await page.getByTestId('reconnecting').waitFor(JOB_WAIT);
}

/** Lets a connection held down by `dropConnection` come back, and waits until it has. */
export async function reconnect(page: Page): Promise<void> {
  await page.evaluate(() => ((window as unknown as Watched).__offline = false));
  await page.getByTestId('reconnecting').waitFor({ state: 'detached', ...JOB_WAIT });
}

/**
 * What a test asserts of a latency whose target is `targetMs`: three times the target. The
 * figures themselves are printed ([figures] lines) and reported against the target; CI's shared,
 * noisy machine may be slow for a moment, while a broken feature (a keystroke that waits for a
 * whole page reload, thumbnails that wait for the import) misses this bound by far.
 */
export const generous = (targetMs: number) => 3 * targetMs;

/** The p-th percentile (0-100) of `xs`, nearest rank. */
export const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

/** Opens the gallery at `url`; milliseconds until the first cell's thumbnail has painted. */
export async function openGallery(page: Page, url: string): Promise<number> {
  const t0 = Date.now();
  await page.goto(url);
  await page.waitForFunction(() => {
    const img = document.querySelector<HTMLImageElement>('[data-testid=cell][data-index="0"] img');
    return img !== null && img.complete && img.naturalWidth > 0;
  });
  return Date.now() - t0;
}

type Metrics = { __loupeMetrics: { samples: Record<string, number[]> } };

/** The labeling latencies (keystroke to saved and painted, ms) the page recorded, once there are at least `n`. */
export async function labelLatencies(page: Page, n: number): Promise<number[]> {
  await page.waitForFunction((count) => ((window as never as Metrics).__loupeMetrics.samples.label?.length ?? 0) >= count, n);
  return page.evaluate(() => (window as never as Metrics).__loupeMetrics.samples.label);
}

/** A toolbar's height, and whether every control sits on one line inside it. */
export function toolbarLayout(toolbar: Locator): Promise<{ height: number; oneLine: boolean; inside: boolean }> {
  return toolbar.evaluate((bar) => {
    const own = bar.getBoundingClientRect();
    const kids = Array.from(bar.children).map((c) => c.getBoundingClientRect()).filter((r) => r.width > 0);
    const oneLine = kids.every((r) => r.top < kids[0].bottom && r.bottom > kids[0].top);
    const inside = kids.every((r) => r.right <= own.right + 0.5 && r.left >= own.left - 0.5);
    return { height: own.height, oneLine, inside };
  });
}

/** `loupe serve` on a project of 120 photos (cat, dog) with a tiny generated backbone as the only one Loupe knows. */
export async function servePhotosWithTinyBackbone(prefix: string): Promise<{ dir: string; server: Served }> {
  const work = tempDir(prefix);
  const backbones = path.join(work, 'backbones');
  await makeTinyBackbone(path.join(backbones, TINY_ID));
  const registry = path.join(work, 'backbones.json');
  writeTinyRegistry(registry, path.join(backbones, TINY_ID));
  const dir = path.join(work, 'photos.loupe');
  await makeFixtureProject(dir, { count: 120, classes: ['cat', 'dog'], label: (i) => (i % 2 ? 'cat' : 'dog') });
  const server = await serve(['--project', dir], { LOUPE_BACKBONE_REGISTRY: registry, LOUPE_BACKBONE_DIR: backbones });
  return { dir, server };
}
