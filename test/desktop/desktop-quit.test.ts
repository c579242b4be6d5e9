// The desktop app stops its jobs when it quits (they run in its process), so it asks first:
// on Quit, and on closing the last window where that quits the app. With nothing running, or
// with another window still open, it quits or closes without a question.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { QuitGuard, quitQuestion, type QuitQuestion } from '../../src/main/desktop/quit-guard';
import { cancelledError } from '../../src/main/jobs/jobs';
import { client } from '../api/api-helpers';
import { makeStudio, tempDir } from '../helpers';

function event() {
  let prevented = false;
  return { preventDefault: () => void (prevented = true), get prevented() { return prevented; } };
}

/** A studio whose project "pets" has a training running (until cancelled); its window is gone. */
async function studioWithTraining() {
  const studio = makeStudio({ mode: 'desktop' });
  const tab = client(studio);
  await tab.api.createProject({ path: path.join(tempDir(), 'pets.loupe') });
  const { promise } = studio.startJob(tab.session.requireProject(), 'train', (r) =>
    new Promise((_, reject) => r.signal.addEventListener('abort', () => reject(cancelledError()))),
  );
  tab.session.dispose();
  return { studio, promise };
}

function guardFor(studio: ReturnType<typeof makeStudio>, options: { answer: boolean; windows: number; quitsWithLastWindow?: boolean }) {
  const asked: { question: QuitQuestion; window?: string }[] = [];
  const guard = new QuitGuard<string>({
    runningJobs: () => studio.runningJobs(),
    confirm: (question, window) => {
      asked.push({ question, window });
      return options.answer;
    },
    windowCount: () => options.windows,
    quitsWithLastWindow: options.quitsWithLastWindow ?? true,
  });
  return { guard, asked };
}

describe('desktop: quitting while jobs run', () => {
  it('names the job and its project in the question', () => {
    const job = { jobId: 'a', projectPath: '/p/pets.loupe', phase: 'Epoch 3/20', done: 1, total: 2, ratePerSecond: null, etaSeconds: null, startedAt: 0 };
    expect(quitQuestion([])).toBeNull();
    expect(quitQuestion([{ ...job, kind: 'train', projectName: 'pets' }])?.message).toBe('Training is running in pets. Quitting stops it. Quit anyway?');
    expect(quitQuestion([{ ...job, kind: 'import', projectName: 'birds' }, { ...job, kind: 'train', projectName: 'pets' }])?.message).toBe(
      'An import is running in birds (and 1 more job). Quitting stops them. Quit anyway?',
    );
  });

  it('asks before the last window closes on a running training, and keeps the window when told to', async () => {
    const { studio } = await studioWithTraining();
    const { guard, asked } = guardFor(studio, { answer: false, windows: 1 });
    const close = event();
    guard.windowClosing(close, 'main');
    expect(asked).toEqual([{ question: expect.objectContaining({ message: 'Training is running in pets. Quitting stops it. Quit anyway?' }), window: 'main' }]);
    expect(close.prevented).toBe(true);
    expect(studio.runningJobs()).toHaveLength(1);
  });

  it('quits after one "Quit anyway", which then stops the training as cancelled', async () => {
    const { studio, promise } = await studioWithTraining();
    const { guard, asked } = guardFor(studio, { answer: true, windows: 1 });
    const close = event();
    guard.windowClosing(close, 'main');
    const quit = event();
    guard.beforeQuit(quit); // the last window gone, the app quits: asked once, not twice
    expect(asked).toHaveLength(1);
    expect(close.prevented || quit.prevented).toBe(false);
    await studio.close(); // what the shell's will-quit does
    await expect(promise).rejects.toMatchObject({ code: 'CANCELLED' });
  });

  it('does not ask when another window stays open, on macOS window closes, or with nothing running', async () => {
    const { studio } = await studioWithTraining();
    const twoWindows = guardFor(studio, { answer: false, windows: 2 });
    const close = event();
    twoWindows.guard.windowClosing(close, 'second');
    expect(twoWindows.asked).toEqual([]);
    expect(close.prevented).toBe(false);

    const mac = guardFor(studio, { answer: false, windows: 1, quitsWithLastWindow: false });
    mac.guard.windowClosing(event(), 'main');
    expect(mac.asked).toEqual([]);
    const quit = event();
    mac.guard.beforeQuit(quit); // Cmd+Q still asks
    expect(mac.asked).toHaveLength(1);
    expect(quit.prevented).toBe(true);

    const idle = guardFor(makeStudio({ mode: 'desktop' }), { answer: false, windows: 1 });
    const idleQuit = event();
    idle.guard.windowClosing(event(), 'main');
    idle.guard.beforeQuit(idleQuit);
    expect(idle.asked).toEqual([]);
    expect(idleQuit.prevented).toBe(false);
  });
});
