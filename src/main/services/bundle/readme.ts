// The README of a training bundle: how to run it on one GPU, on N GPUs, under Slurm, and how the
// result comes home.

import type { BundleManifest } from './manifest';

function model(m: BundleManifest): string {
  const c = m.config;
  const t = c.backbone;
  if (!t) return `${c.arch} (loupe_models.py, layer for layer as in Loupe)${c.flipAverage ? '; predictions average the image and its mirror image' : ''}`;
  const ft = t.fineTune ?? { mode: 'head', headEpochs: 0, backboneLrScale: 0, frozenBatchNorm: true };
  const tuning =
    ft.mode === 'head'
      ? 'the backbone stays frozen, the head alone trains'
      : `the head trains alone for ${ft.headEpochs} epochs, then ${ft.mode === 'all' ? 'the whole backbone' : "the backbone's nodes after its cut layer"} train${ft.mode === 'all' ? 's' : ''} with it at ${ft.backboneLrScale} x the rate (\`--head-epochs\` overrides the warm-up)${ft.frozenBatchNorm ? ', batch norm on its pretrained statistics' : ''}`;
  return (
    `Loupe's dense head (dense 1024, dropout 0.2) on ${t.title} (${t.copy}) at ${t.resolution}x${t.resolution}, ${t.features} features; ` +
    `the backbone is \`backbone.json\` + \`backbone.bin\` (its ONNX features graph and weights, run by \`onnx_graph.py\` with torch ops); ${tuning}` +
    `${t.flipAverage ? '; predictions average the image and its mirror image' : ''}`
  );
}

export function bundleReadme(m: BundleManifest): string {
  const c = m.config;
  const n = (k: keyof BundleManifest['splits']) => m.splits[k].images.toLocaleString('en-US');
  const schedule = c.schedule.kind === 'cosine' ? `cosine${c.schedule.warmup ? ` with ${Math.round(c.schedule.warmup * 100)}% warm-up (one-cycle)` : ''}` : c.schedule.kind;
  return `# Loupe training bundle: ${m.project.name}${m.run.id !== null ? `, run #${m.run.id}` : ''}

Made by Loupe ${m.loupeVersion} on ${m.createdAt}. It trains the model Loupe would train, with
PyTorch, on one GPU, many GPUs or many machines, then \`loupe import-run\` brings it home as a run
of the project (Evaluate, label errors, suggestions and export work on it as on any run).

- **Model**: ${model(m)}, input ${c.width}x${c.height}x${c.channels}, ${m.classes.length} classes.
- **Plan**: ${c.epochs} epochs, batch ${c.batchSize} (global: split over the processes), ${c.optimizer} at ${c.learningRate}${c.weightDecay ? `, weight decay ${c.weightDecay}` : ''}, ${schedule} schedule, augmentation ${JSON.stringify(c.augmentation)}${c.patience ? `, early stopping after ${c.patience} epochs without improvement` : ''}${c.restoreBest ? ', keeps the best validation epoch' : ''}.
- **Data**: ${n('train')} train, ${n('val')} val, ${n('test')} test images in \`data/\`: WebDataset-layout tar
  shards (\`<key>.png\` the image as Loupe feeds it to the model, already resized; \`<key>.cls\` the
  class index into \`manifest.json\`'s \`classes\`; the key is the original image's sha256).
  Plain \`tarfile\` reads them, and so does \`webdataset\`
  (\`wds.WebDataset("data/train-{000000..000009}.tar").decode("pil").to_tuple("png", "cls")\`).
- **manifest.json** holds the plan, the classes, every sample's split and label, and the sha256 of
  every file; \`loupe import-run\` refuses a bundle whose files or images changed.

Needs Python 3 with \`torch\` (1.13 or 2.x); Pillow or torchvision to read PNG.

## One GPU (or the CPU)

\`\`\`sh
python train.py
\`\`\`

## N GPUs on one machine

\`\`\`sh
torchrun --standalone --nproc_per_node=N train.py
\`\`\`

(Debian 12's torch 1.13 on Python 3.11: add \`--redirects 1 --tee 1\`, its torchrun fails without.)
DistributedDataParallel: NCCL on GPUs, Gloo on CPUs (\`--cpu\`). Mixed precision (bfloat16, or
float16 with loss scaling) on GPUs; \`--no-amp\` turns it off. The batch stays the plan's global
batch; \`--batch-size B --lr LR\` scale it up for many GPUs. \`--epochs\` overrides the plan's.

## Slurm (many machines)

\`\`\`sh
#!/bin/bash
#SBATCH --nodes=2 --ntasks-per-node=1 --gpus-per-node=8 --cpus-per-task=32
head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
srun torchrun --nnodes=$SLURM_NNODES --nproc_per_node=8 \\
  --rdzv_id=$SLURM_JOB_ID --rdzv_backend=c10d --rdzv_endpoint=$head:29500 \\
  train.py --out /shared/outputs
\`\`\`

The bundle folder and \`--out\` must be on storage every node reads (\`--resume\` reads the
checkpoint on every node); outputs are written by rank 0. Bring them home with
\`loupe import-run <project> <bundle> --outputs /shared/outputs\`.

## Resuming

A checkpoint is saved after every epoch (\`outputs/checkpoint.pt\`): run the same command with
\`--resume\` to go on from it.

## Outputs, and bringing the model home

\`outputs/\`: \`model.onnx\` (float pixels [N, ${c.height}, ${c.width}, ${c.channels}] in 0..255 in, probabilities out;
Loupe's preprocessing and labels in its metadata), \`predictions.json\` and \`predictions.csv\` (every
class probability of each val and test image), \`outputs.json\` (host, GPUs, torch version, wall
time, epochs, with the sha256 of each output). Copy the bundle folder back (or just \`outputs/\`
into it) and run:

\`\`\`sh
loupe import-run <project> <this folder>
\`\`\`
`;
}
