// What one click will do, said for someone who has never trained a model: one plain sentence,
// then the few choices that matter in plain words. The plan's own explanation (layer names,
// libraries, backend probes) stays for the details. Pure, so the studio and `loupe train --plan`
// say the same.

import { fineTunePart } from './fine-tune';
import * as format from './format';
import { ARCH_INFO, type TrainPlan } from './types';

export interface PlanSummary {
  /** One sentence: what will be trained, on what, and about how long it takes here. */
  headline: string;
  /** The key choices, one short plain sentence each. */
  choices: string[];
}

// The plan reads the same in the studio and the CLI, on every machine.
const count = (n: number, one: string, many = `${one}s`) => format.count(n, one, many, format.PLAIN_LOCALE);

/** The backbone's name without its qualifiers: "MobileNet v1 1.0 (ImageNet)" → "MobileNet v1 1.0". */
function shortTitle(title: string): string {
  return title.replace(/\s*\(.*\)\s*$/, '');
}

/** When the run stops early, if it can: after a number of passes without improving, with a one-cycle schedule only once its rate is low. */
function stopText(c: TrainPlan['config']): string {
  if (c.patience === null) return '';
  const after = `it stops early after ${count(c.patience, 'pass', 'passes')} without improving`;
  const from = c.patienceFrom ?? 1;
  if (from <= 1) return `; ${after}`;
  // It can end the run only at an epoch from `from` on, at least `patience` after the best one.
  return Math.max(from, c.patience + 1) < c.epochs ? `; from pass ${from} on, ${after}` : '';
}

export function planSummary(plan: TrainPlan): PlanSummary {
  const { config: c, data } = plan;
  const time = `about ${format.duration(plan.estimatedSeconds, 'rough')} on this machine`;
  const choices: string[] = [];
  const side = Math.max(data.medianWidth, data.medianHeight);
  const b = c.backbone;
  let headline: string;
  if (b) {
    headline =
      b.fineTune && b.fineTune.mode !== 'head'
        ? `Loupe will train a small classifier on what a pretrained image model (${shortTitle(b.title)}) sees in each photo, and adapt ${b.fineTune.mode === 'all' ? 'all' : fineTunePart(b.fineTune)} of that model to your photos — ${time}.`
        : `Loupe will train a small classifier on what a pretrained image model (${shortTitle(b.title)}) sees in each photo — ${time}.`;
    choices.push(
      side > 0 && side < b.resolution
        ? `Photos are enlarged to ${b.resolution}×${b.resolution} px for ${shortTitle(b.title)} (yours are about ${data.medianWidth}×${data.medianHeight}).`
        : `Photos are resized to ${b.resolution}×${b.resolution} px for ${shortTitle(b.title)}.`,
    );
    const ft = b.fineTune;
    if (ft && ft.mode !== 'head') {
      const part = fineTunePart(ft);
      choices.push(
        `${part === 'the whole backbone' ? 'The whole pretrained model is' : `${part[0].toUpperCase()}${part.slice(1)} of the pretrained model ${ft.blocks === 1 ? 'is' : 'are'}`} adapted to your photos too, ` +
          `after the classifier's first ${count(ft.headEpochs, 'pass', 'passes')} on its own.`,
      );
      choices.push(`Each photo is also used ${c.augmentation.flip ? 'mirrored and shifted' : 'shifted'}, so the model sees more variety.`);
    } else {
      if (ft) choices.push('The pretrained model stays as it is; only the classifier learns.');
      if (b.augment === 'flip') choices.push('Each photo is also used mirrored left to right, so the classifier sees more variety.');
    }
  } else {
    headline = `Loupe will train a neural network (${ARCH_INFO[c.arch].title}) from scratch on your images — ${time}.`;
    choices.push(`Images are resized to ${c.width}×${c.height} px${c.channels === 1 ? ', in greyscale' : ''}.`);
    const a = c.augmentation;
    const varied = [a.flip ? 'mirrored' : '', a.shift > 0 ? 'shifted' : '', a.brightness > 0 ? 'brightened or darkened' : ''].filter(Boolean);
    if (varied.length > 0) choices.push(`Training images are randomly ${varied.join(', ')}, so the model sees more variety.`);
  }
  const kept = c.restoreBest
    ? data.val > 0
      ? 'the pass with the best validation score is kept'
      : 'the pass with the best training score is kept (there are no validation images)'
    : `the last pass is kept${b && data.val > 0 ? ` (${count(data.val, 'validation image')} are too few to pick a better one)` : ''}`;
  const stop = stopText(c);
  choices.push(`${count(c.epochs, 'pass', 'passes')} over the ${count(data.train, 'training image')}; ${kept}${stop}.`);
  choices.push(
    data.val + data.test > 0
      ? `Scores are measured on ${count(data.val, 'validation image')} and ${count(data.test, 'test image')} it never trains on.`
      : 'There are no validation or test images, so no score will be honest: move some images to those splits.',
  );
  return { headline, choices };
}
