// onnxruntime's NCHWc convolutions (`com.microsoft.nchwc.Conv`): MLAS's direct convolution on
// activations blocked by channel ([B, C/b, H, W, b]), faster than the im2col + GEMM of the plain
// Conv kernel. onnxruntime rewrites a Conv into it only when the weights are constants (it
// reorders them once, when the session is built); a training step takes its weights as inputs,
// so the training compiler writes the blocked Conv itself, with the weights' reordering as a
// Reshape and a Transpose in the graph. The block depends on the CPU (16 with AVX-512, 8 with
// AVX2; none where MLAS has no such kernels), so it is read from what onnxruntime itself does
// with a small constant-weight Conv.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from './graph-builder';
import { onnx } from './proto';

export const NCHWC_DOMAIN = 'com.microsoft.nchwc';

let probed: Promise<number> | null = null;

/**
 * The channel block of onnxruntime's NCHWc kernels on this machine, or 0 where it has none: the
 * output channels of a 4-channel constant-weight Conv once onnxruntime has rewritten it (padded
 * up to one block).
 */
export function nchwcBlock(): Promise<number> {
  probed ??= probe().catch(() => 0);
  return probed;
}

async function probe(): Promise<number> {
  const g = new GraphBuilder({ names: 'counter', dedupeConstants: false });
  const x = g.input('x', [1, 4, 4, 4]);
  g.output('y', g.node('Conv', [x, g.floats(new Float32Array(4 * 4).fill(1), [4, 4, 1, 1])], { kernel_shape: [1, 1] }), [1, 4, 4, 4]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-nchwc-'));
  try {
    const file = path.join(dir, 'probe.onnx');
    const session = await ort.InferenceSession.create(g.encode({ opset: 17 }), { graphOptimizationLevel: 'all', optimizedModelFilePath: file, logSeverityLevel: 3 });
    await session.release();
    const { graph } = onnx.ModelProto.decode(fs.readFileSync(file));
    const conv = graph?.node?.find((n) => n.domain === NCHWC_DOMAIN && n.opType === 'Conv');
    const weights = conv && graph?.initializer?.find((t) => t.name === conv.input?.[1]);
    return weights?.dims?.length ? Number(weights.dims[0]) : 0;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
