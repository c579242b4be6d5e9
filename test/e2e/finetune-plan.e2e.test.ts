// The fine-tuning choice in the real UI (browser mode, Chromium), on a tiny generated backbone:
// the plan says how much of the backbone trains and why, and the Advanced control (Automatic,
// Head only, Last blocks, Whole backbone) re-plans with the choice, saying it was chosen there
// (TinyNet's blocks can train: the plan times its last block here).

import { describe, expect, it } from 'vitest';
import { hasChromium, launch, newPage, servePhotosWithTinyBackbone } from './harness';

const text = async (page: import('playwright-core').Page, testid: string) => ((await page.getByTestId(testid).first().textContent()) ?? '').replace(/\s+/g, ' ').trim();

describe.runIf(hasChromium)('the fine-tuning choice in the train view (Chromium, browser mode)', () => {
  it('shows how much of the backbone trains and why, and re-plans when Advanced settings force it', async () => {
    const { server } = await servePhotosWithTinyBackbone('loupe-e2e-finetune-');
    const browser = await launch();
    const { page, problems } = await newPage(browser);
    await page.goto(server.openUrl);
    await page.getByRole('navigation', { name: 'Views' }).getByRole('button', { name: 'Train' }).click();
    await page.getByTestId('plan-estimate').waitFor();

    // A few dozen photos: the head alone, and why, in the plan and in its details.
    await expect.poll(() => text(page, 'plan-finetune')).toMatch(/^Head only: /);
    const automatic = await text(page, 'plan-finetune');
    expect(automatic).not.toMatch(/Advanced settings/);
    expect(await text(page, 'config-finetune')).toBe('none: the head only, on the backbone’s frozen features');
    expect(await text(page, 'plan-choices')).toContain('The pretrained model stays as it is; only the classifier learns.');

    await page.getByTestId('train-advanced').locator('summary').click();
    const select = page.getByTestId('finetune-select');
    expect(await select.locator('option').allTextContents()).toEqual(['Automatic (Head only)', 'Head only', 'Last blocks', 'Whole backbone']);

    // Forcing the last blocks re-plans: the last block trains, timed here, and the details say how.
    await select.selectOption('blocks');
    await expect
      .poll(() => text(page, 'plan-finetune'), { timeout: 30_000 })
      .toBe('Last blocks: chosen in Advanced settings; the last block of TinyNet trains with the head after its 5 warm-up epochs, whatever the head alone reaches.');
    expect(await text(page, 'config-finetune')).toMatch(/^the last block \(after conv_pw_1_relu\) at 0\.1× the head’s learning rate, after 5 head-only epochs; \d+ cached variants per image; batch norm frozen$/);
    expect(await text(page, 'plan-choices')).toContain('The last block of the pretrained model is adapted to your photos too');
    expect(await text(page, 'plan-explanation')).toMatch(/about \d+ (s|min) here \(a training step of the trained part measured on this machine\)/);
    await expect.poll(() => page.getByTestId('train-button').isEnabled()).toBe(true);

    await select.selectOption('all');
    await expect.poll(() => text(page, 'plan-finetune'), { timeout: 30_000 }).toMatch(/^Whole backbone: chosen in Advanced settings; the whole backbone of TinyNet trains with the head/);
    expect(await text(page, 'config-finetune')).toMatch(/^the whole backbone at 0\.1× the head’s learning rate/);

    // Head only, forced: the plan says so and can run.
    await select.selectOption('head');
    await expect.poll(() => text(page, 'plan-finetune'), { timeout: 30_000 }).toBe('Head only: chosen in Advanced settings; the backbone stays as it is.');
    await expect.poll(() => page.getByTestId('train-button').isEnabled()).toBe(true);
    expect(await page.getByTestId('plan-blocker').count()).toBe(0);

    // Back to Automatic: the plan's own choice again.
    await select.selectOption('');
    await expect.poll(() => text(page, 'plan-finetune'), { timeout: 30_000 }).toBe(automatic);
    expect(problems).toEqual([]);
  });
});
