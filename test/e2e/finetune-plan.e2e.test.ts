// The fine-tuning choice in the real UI (browser mode, Chromium), on a tiny generated backbone:
// the plan says how much of the backbone trains and why, and the Advanced control (Automatic,
// Head only, Last blocks, Whole backbone) re-plans with the choice, saying it was chosen there.

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

    // Forcing the last blocks re-plans: they train, or the plan says why this backbone cannot.
    await select.selectOption('blocks');
    await expect.poll(() => text(page, 'plan-finetune'), { timeout: 30_000 }).toMatch(/^(Last blocks: chosen in Advanced settings|Head only: Last blocks was chosen in Advanced settings)/);
    const forced = await text(page, 'plan-finetune');
    if (forced.startsWith('Last blocks')) {
      expect(await text(page, 'config-finetune')).toMatch(/^the last (\d+ blocks|block) \(after .+\) at 0\.1× the head’s learning rate/);
      await expect.poll(() => page.getByTestId('train-button').isEnabled()).toBe(true);
    } else {
      expect(await text(page, 'plan-blocker')).toMatch(/^Last blocks was chosen in Advanced settings, but TinyNet cannot be fine-tuned: .+ Choose Head only or Automatic\.$/);
      expect(await page.getByTestId('train-button').isEnabled()).toBe(false);
    }

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
