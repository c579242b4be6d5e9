// Compiles a TF.js layers model into ONNX graphs that onnxruntime runs natively on all cores:
// a training step (forward in training mode, the backward pass written out layer by layer, and
// the optimizer update) and an inference pass. Weights stay in TF.js layout and order, so the
// trained values go straight back into the TF.js model for saving and export.
//
// Internally activations are NCHW (onnxruntime's native layout); the graph takes NHWC pixels
// scaled to [0, 1], like the TF.js model, or a batch of feature vectors ([B, F], a transfer
// head). Supported layers: the ones Loupe's architectures use, and those of a pretrained
// MobileNet v1 being fine-tuned (depthwise convolutions, ReLU6, batch norm with frozen statistics,
// its Rescaling preprocessing, Keras' ZeroPadding2D).
//
// Fine-tuning: layers (or single weights) that are not trainable get no update and no gradient,
// and nothing below the first trainable layer is differentiated; each layer's learning rate can be
// a fraction of the step's (the backbone slower than the head).

import type * as tf from '@tensorflow/tfjs';
import { HWCM_TO_CMHW, HWIO_TO_OIHW, NCHW_TO_NHWC, NHWC_TO_NCHW, window2d } from './layout';
import { GraphBuilder } from './graph-builder';
import { NCHWC_DOMAIN } from './nchwc';
import { FLOAT, type Dim } from './proto';

export interface GraphWeights {
  /** Every weight of the model, in `model.weights` order (what getWeights/setWeights use). */
  all: { name: string; shape: number[]; trainable: boolean; decayed: boolean }[];
}

export interface OptimizerSpec {
  kind: 'adam' | 'sgd' | 'momentum';
  weightDecay: number;
  /** Momentum for 'momentum'. */
  momentum?: number;
}

/** How a training step treats the model's layers (plain data: it travels to training workers). */
export interface TrainingOptions {
  /**
   * Batch norm uses its moving mean and variance in the forward pass of training too, and leaves
   * them unchanged; gamma and beta still learn where trainable. (A batch-norm layer that is not
   * trainable is always frozen this way, as in Keras.) For fine-tuning on small batches.
   */
  frozenBatchNorm?: boolean;
  /** Learning-rate multiplier per layer name (absent: 1), baked into the graph: e.g. 0.1 on every backbone layer. */
  lrScale?: Record<string, number>;
}

export interface TrainingGraph {
  bytes: Uint8Array;
  /** Indices (into weights.all) of the trainable weights, which have optimizer slots. */
  trainable: number[];
  /** Optimizer slot count per trainable weight (Adam: m and v; momentum: v; SGD: none). */
  slots: number;
  /** Dropout masks the step needs, in order: the size of one sample's mask and the rate. */
  dropouts: { features: number; dims: number[]; rate: number }[];
}

/** What the compiler may use of the onnxruntime that will run the step. */
export interface RuntimeTraits {
  /** The channel block of its NCHWc convolutions (`nchwcBlock()`); absent or 0: plain Conv only. */
  nchwcBlock?: number;
}

/** ScatterElements with a reduction (MaxPool's gradient) needs opset 16. */
const OPSET = 17;
const ADAM = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };

type LayerLike = tf.layers.Layer & {
  inboundNodes: { inputTensors: { id: number; shape: (number | null)[] }[]; outputTensors: { id: number }[] }[];
  getConfig(): Record<string, unknown>;
};

interface Ctx {
  g: GraphBuilder;
  training: boolean;
  frozenBatchNorm: boolean;
  /** ONNX value of each symbolic tensor id (NCHW for 4-D). */
  values: Map<number, string>;
  /** Graph input name of each weight. */
  weightIn: Map<tf.LayerVariable, string>;
  /** Weight gradients (by weight) and new non-trainable values. */
  backward: (() => void)[];
  grads: Map<number, string[]>;
  weightGrads: Map<tf.LayerVariable, string>;
  frozenOut: Map<tf.LayerVariable, string>;
  dropouts: { features: number; dims: number[]; rate: number; input: string }[];
  /** The channel block of onnxruntime's NCHWc convolutions (0: plain Conv only). */
  nchwcBlock: number;
}

function pair(v: unknown): [number, number] {
  return Array.isArray(v) ? [v[0] as number, (v[1] ?? v[0]) as number] : [v as number, v as number];
}

/** TF 'same' / 'valid' padding of an undilated window as ONNX pads [top, left, bottom, right]. */
function padsFor(padding: unknown, size: [number, number], kernel: [number, number], strides: [number, number]): number[] {
  if (padding !== 'valid' && padding !== 'same') throw new Error(`Padding ${String(padding)} is not supported by the onnxruntime trainer.`);
  return window2d(size, kernel, strides, [1, 1], padding).pads;
}

function shapeOf(layer: tf.layers.Layer, which: 'in' | 'out'): number[] {
  const s = (which === 'in' ? (layer as LayerLike).inboundNodes[0].inputTensors[0].shape : layer.outputShape) as (number | null)[];
  return s.map((d) => d ?? -1);
}

function weight(layer: tf.layers.Layer, suffix: string): tf.LayerVariable | undefined {
  return layer.weights.find((w) => w.originalName.endsWith(`/${suffix}`) || w.originalName === suffix);
}

/** Adds `grad` to the gradient of symbolic tensor `id` (a tensor read by several layers sums). */
function addGrad(ctx: Ctx, id: number, grad: string): void {
  ctx.grads.set(id, [...(ctx.grads.get(id) ?? []), grad]);
}

function gradOf(ctx: Ctx, id: number): string | null {
  const list = ctx.grads.get(id);
  if (!list || list.length === 0) return null;
  return list.length === 1 ? list[0] : ctx.g.node('Sum', list);
}

function sumOver(g: GraphBuilder, x: string, axes: number[], keepdims = 0): string {
  return g.node('ReduceSum', [x, g.ints(axes)], { keepdims });
}

/** Whether the step needs this weight's gradient (it is updated). */
function learns(v: tf.LayerVariable | undefined): v is tf.LayerVariable {
  return v !== undefined && v.trainable;
}

type Act = { y: string; back: (dy: string) => string };

function relu(ctx: Ctx, x: string): Act {
  const { g } = ctx;
  const y = g.node('Relu', [x]);
  return { y, back: (dy) => passWhere(g, g.node('Greater', [y, g.scalar(0)]), dy) };
}

/** dy where `mask`, else 0 (a multiply by the mask as 0/1: several times faster than Where in onnxruntime). */
function passWhere(g: GraphBuilder, mask: string, dy: string): string {
  return g.node('Mul', [dy, g.node('Cast', [mask], { to: FLOAT })]);
}

/** min(max(x, 0), max); the gradient passes where 0 < x <= max, as TF.js's relu6 and clipByValue. */
function clippedRelu(ctx: Ctx, x: string, max: number): Act {
  const { g } = ctx;
  const y = g.node('Clip', [x, g.scalar(0), g.scalar(max)]);
  return {
    y,
    back: (dy) => {
      const inside = g.node('And', [g.node('Greater', [x, g.scalar(0)]), g.node('LessOrEqual', [x, g.scalar(max)])]);
      return passWhere(g, inside, dy);
    },
  };
}

/** A layer's element-wise activation: null for linear; softmax is the last dense layer's own. */
function activation(ctx: Ctx, layer: tf.layers.Layer, name: unknown, x: string): Act | null {
  if (name === 'linear' || name === undefined || name === null) return null;
  if (name === 'relu') return relu(ctx, x);
  if (name === 'relu6') return clippedRelu(ctx, x, 6);
  throw new Error(`${layer.name}: activation ${String(name)} is not supported by the onnxruntime trainer.`);
}

/** A convolution's kernel and strides (an undilated one: the trainer refuses dilation). */
function convWindow(layer: tf.layers.Layer, c: Record<string, unknown>): { kernel: [number, number]; strides: [number, number] } {
  if (pair(c.dilationRate ?? 1).some((d) => d !== 1)) throw new Error(`${layer.name}: dilated convolutions are not supported by the onnxruntime trainer.`);
  return { kernel: pair(c.kernelSize), strides: pair(c.strides ?? 1) };
}

function conv2d(ctx: Ctx, layer: tf.layers.Layer, x: string, needsDx: boolean): { y: string; back: (dy: string) => string | null } {
  const { g } = ctx;
  const c = layer.getConfig();
  const { kernel, strides } = convWindow(layer, c);
  const [, h, w, cin] = shapeOf(layer, 'in');
  const [, oh, ow, cout] = shapeOf(layer, 'out');
  const pads = padsFor(c.padding, [h, w], kernel, strides);
  const kVar = weight(layer, 'kernel')!;
  const bVar = c.useBias ? weight(layer, 'bias') : undefined;
  const hwio = ctx.weightIn.get(kVar)!;
  // A 1x1 kernel [1, 1, cin, cout] is a matrix: transposed as one (onnxruntime's 2-D transpose is
  // far faster than the 4-D permutation), and as [cin, cout, 1, 1] it already is the input
  // gradient's kernel (transposed and flipped).
  const pointwise = kernel[0] === 1 && kernel[1] === 1;
  let oihw: string | undefined; // (made only where the plain Conv or ConvTranspose reads it)
  const wOihw = () =>
    (oihw ??= pointwise
      ? g.node('Reshape', [g.node('Transpose', [g.node('Reshape', [hwio, g.ints([cin, cout])])], { perm: [1, 0] }), g.ints([cout, cin, 1, 1])])
      : g.node('Transpose', [hwio], { perm: HWIO_TO_OIHW }));
  const b = ctx.nchwcBlock;
  const padOut = b > 0 ? Math.ceil(cout / b) * b - cout : 0; // the blocked Conv's bias spans whole blocks too
  // Fewer input channels than a block (a first layer: 1 or 3): the blocked Conv reads x as NCHW.
  const blocked = blocks(ctx, cin) || (ctx.training && b > 0 && cin < b);
  const bias = bVar ? [padOut > 0 && blocked ? g.node('Pad', [ctx.weightIn.get(bVar)!, g.ints([0, padOut])]) : ctx.weightIn.get(bVar)!] : [];
  let z: string;
  let act: Act | null;
  if (blocked && c.activation === 'relu') {
    // The blocked Conv applies the ReLU itself; its gradient passes where the output is positive.
    const y = nchwcConv(ctx, x, cin, blockedKernel(ctx, hwio, kernel, cin, cout, false), bias, { kernel_shape: kernel, strides, pads, activation: 'Relu' }, cout);
    z = y;
    act = { y, back: (dy) => passWhere(g, g.node('Greater', [y, g.scalar(0)]), dy) };
  } else {
    z = blocked
      ? nchwcConv(ctx, x, cin, blockedKernel(ctx, hwio, kernel, cin, cout, false), bias, { kernel_shape: kernel, strides, pads }, cout)
      : g.node('Conv', [x, wOihw(), ...bias], { kernel_shape: kernel, strides, pads });
    act = activation(ctx, layer, c.activation, z);
  }
  return {
    y: act ? act.y : z,
    back: (dyIn) => {
      const dz = act ? act.back(dyIn) : dyIn;
      if (learns(bVar)) ctx.weightGrads.set(bVar, sumOver(g, dz, [0, 2, 3]));
      if (learns(kVar)) ctx.weightGrads.set(kVar, conv2dKernelGrad(ctx, x, dz, { kernel, strides, pads, cin, cout, oh, ow }));
      if (!needsDx) return null;
      if (strides[0] === 1 && strides[1] === 1 && blocks(ctx, cout)) {
        const back = [kernel[0] - 1 - pads[0], kernel[1] - 1 - pads[1], kernel[0] - 1 - pads[2], kernel[1] - 1 - pads[3]];
        return nchwcConv(ctx, dz, cout, blockedKernel(ctx, hwio, kernel, cin, cout, true), [], { kernel_shape: kernel, pads: back }, cin);
      }
      if (strides[0] === 1 && strides[1] === 1) {
        // Stride 1: a plain convolution with the flipped, transposed kernel (faster than ConvTranspose).
        const flipped = pointwise
          ? g.node('Reshape', [hwio, g.ints([cin, cout, 1, 1])])
          : g.node('Slice', [g.node('Transpose', [wOihw()], { perm: [1, 0, 2, 3] }), g.ints([-1, -1]), g.ints([-(2 ** 31), -(2 ** 31)]), g.ints([2, 3]), g.ints([-1, -1])]);
        const back = [kernel[0] - 1 - pads[0], kernel[1] - 1 - pads[1], kernel[0] - 1 - pads[2], kernel[1] - 1 - pads[3]];
        return g.node('Conv', [dz, flipped], { kernel_shape: kernel, pads: back });
      }
      const outputPadding = [h - ((oh - 1) * strides[0] + kernel[0] - pads[0] - pads[2]), w - ((ow - 1) * strides[1] + kernel[1] - pads[1] - pads[3])];
      return g.node('ConvTranspose', [dz, wOihw()], { kernel_shape: kernel, strides, pads, output_padding: outputPadding });
    },
  };
}

/** Whether a convolution from `cin` to `cout` channels runs as onnxruntime's NCHWc Conv (both whole blocks). */
function blocks(ctx: Ctx, channels: number): boolean {
  return ctx.training && ctx.nchwcBlock > 0 && channels % ctx.nchwcBlock === 0;
}

/**
 * An HWIO kernel [kh, kw, cin, cout] in the NCHWc Conv's weight layout, [O/b, I/b, kh, kw, b (in),
 * b (out)] (shaped [O, I, kh, kw]): as the forward convolution's (O = cout), or, `transposed`, as
 * its stride-1 input gradient's, flipped in space with O = cin and I = cout. I must be whole
 * blocks; O is padded with zero filters up to whole blocks (ReorderOutput drops them again).
 */
function blockedKernel(ctx: Ctx, hwio: string, [kh, kw]: [number, number], cin: number, cout: number, transposed: boolean): string {
  const { g } = ctx;
  const b = ctx.nchwcBlock;
  const up = (n: number) => Math.ceil(n / b) * b;
  const [ci, co] = transposed ? [up(cin), cout] : [cin, up(cout)];
  const padded = ci > cin || co > cout ? g.node('Pad', [hwio, g.ints([0, 0, 0, 0, 0, 0, ci - cin, co - cout])]) : hwio;
  if (!transposed && cin < b) {
    // NCHW input: [O/b, I, kh, kw, b (out)].
    const t = g.node('Transpose', [g.node('Reshape', [padded, g.ints([kh, kw, cin, co / b, b])])], { perm: [3, 2, 0, 1, 4] });
    return g.node('Reshape', [t, g.ints([co, cin, kh, kw])]);
  }
  const split = g.node('Reshape', [padded, g.ints([kh, kw, ci / b, b, co / b, b])]); // [kh, kw, I/b, b, O/b, b]
  if (!transposed) return g.node('Reshape', [g.node('Transpose', [split], { perm: [4, 2, 0, 1, 3, 5] }), g.ints([co, ci, kh, kw])]);
  const t = g.node('Transpose', [split], { perm: [2, 4, 0, 1, 5, 3] }); // [cin/b, cout/b, kh, kw, b (cout), b (cin)]
  const flipped = g.node('Slice', [t, g.ints([-1, -1]), g.ints([-(2 ** 31), -(2 ** 31)]), g.ints([2, 3]), g.ints([-1, -1])]);
  return g.node('Reshape', [flipped, g.ints([ci, co, kh, kw])]);
}

/** A convolution of NCHW `x` through the NCHWc Conv (x reordered to channel blocks and the result back), NCHW out. */
function nchwcConv(ctx: Ctx, x: string, channelsIn: number, kernel: string, bias: string[], attrs: Record<string, number[] | number | string>, channels: number): string {
  const { g } = ctx;
  const input = channelsIn < ctx.nchwcBlock ? x : g.nodeIn(NCHWC_DOMAIN, 'ReorderInput', [x]);
  const y = g.nodeIn(NCHWC_DOMAIN, 'Conv', [input, kernel, ...bias], attrs);
  return g.nodeIn(NCHWC_DOMAIN, 'ReorderOutput', [y], { channels });
}

interface Window {
  kernel: [number, number];
  strides: [number, number];
  pads: number[];
  cin: number;
  cout: number;
  oh: number;
  ow: number;
}

/** For each kernel offset, the strided slice of x that met each output position: [cin, B, oh, ow]. */
function taps(ctx: Ctx, x: string, { kernel, strides, pads, oh, ow }: Window): string[] {
  const { g } = ctx;
  const xp = pads.some((p) => p > 0) ? g.node('Pad', [x, g.ints([0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]])]) : x;
  const xt = g.node('Transpose', [xp], { perm: [1, 0, 2, 3] }); // [cin, B, H, W]
  if (kernel[0] === 1 && kernel[1] === 1 && strides[0] === 1 && strides[1] === 1) return [xt]; // 1x1: the slice is all of x
  const out: string[] = [];
  for (let u = 0; u < kernel[0]; u++) {
    for (let v = 0; v < kernel[1]; v++) {
      out.push(g.node('Slice', [xt, g.ints([u, v]), g.ints([u + (oh - 1) * strides[0] + 1, v + (ow - 1) * strides[1] + 1]), g.ints([2, 3]), g.ints([strides[0], strides[1]])]));
    }
  }
  return out;
}

/**
 * Output positions from which a kernel gradient is taken image by image (`imageKernelGrad`);
 * below, one GEMM per offset over the whole batch. Measured on single layers (batch 64, 2
 * threads): per image 1.2-1.6x faster at 16x16 to 32x32 outputs, 0.84-1.03x at 14x14 and
 * 0.67-0.87x at 8x8.
 */
const PER_IMAGE_POSITIONS = 256;

/** A convolution's kernel gradient [kh, kw, cin, cout]: per offset one GEMM [cin, B*P] x [B*P, cout], stacked. */
function conv2dKernelGrad(ctx: Ctx, x: string, dz: string, win: Window): string {
  const { g } = ctx;
  const { kernel, cin, cout } = win;
  if (win.oh * win.ow >= PER_IMAGE_POSITIONS) return imageKernelGrad(ctx, x, dz, win);
  const dzT = g.node('Reshape', [g.node('Transpose', [dz], { perm: [1, 0, 2, 3] }), g.ints([cout, -1])]); // [cout, B*P]
  const parts = taps(ctx, x, win).map((slice) => g.node('Unsqueeze', [g.node('Gemm', [g.node('Reshape', [slice, g.ints([cin, -1])]), dzT], { transB: 1 }), g.ints([0])]));
  const dw = parts.length === 1 ? parts[0] : g.node('Concat', parts, { axis: 0 }); // [kh*kw, cin, cout]
  return g.node('Reshape', [dw, g.ints([kernel[0], kernel[1], cin, cout])]);
}

/**
 * A convolution's kernel gradient [kh, kw, cin, cout] from NCHW x and dz as they are: per offset
 * one batched product, each image's [cin, P] tap times its dz [cout, P] transposed (onnxruntime's
 * FusedMatMul), summed over the batch. No transposes of x or dz, and the batch splits the work
 * between threads.
 */
function imageKernelGrad(ctx: Ctx, x: string, dz: string, { kernel, strides, pads, cin, cout, oh, ow }: Window): string {
  const { g } = ctx;
  const xp = pads.some((p) => p > 0) ? g.node('Pad', [x, g.ints([0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]])]) : x;
  const dzr = g.node('Reshape', [dz, g.ints([-1, cout, oh * ow])]);
  const whole = kernel[0] === 1 && kernel[1] === 1 && strides[0] === 1 && strides[1] === 1;
  const parts: string[] = [];
  for (let u = 0; u < kernel[0]; u++) {
    for (let v = 0; v < kernel[1]; v++) {
      const tap = whole ? xp : g.node('Slice', [xp, g.ints([u, v]), g.ints([u + (oh - 1) * strides[0] + 1, v + (ow - 1) * strides[1] + 1]), g.ints([2, 3]), g.ints([strides[0], strides[1]])]);
      const product = g.nodeIn('com.microsoft', 'FusedMatMul', [g.node('Reshape', [tap, g.ints([-1, cin, oh * ow])]), dzr], { transB: 1 }); // [B, cin, cout]
      parts.push(sumOver(g, product, [0], 1));
    }
  }
  const dw = parts.length === 1 ? parts[0] : g.node('Concat', parts, { axis: 0 }); // [kh*kw, cin, cout]
  return g.node('Reshape', [dw, g.ints([kernel[0], kernel[1], cin, cout])]);
}

/**
 * A depthwise kernel's gradient [kh, kw, C, 1] as one grouped convolution (several times faster
 * than per-offset products): x with batch and channels swapped, [1, C*B, H, W], correlated with dz
 * as the kernel, [C, B, oh, ow], one group per channel, dilated by the stride; the output
 * [1, C, kh, kw] holds for each offset and channel the sum over batch and space of x times dz.
 */
function depthwiseKernelGrad(ctx: Ctx, x: string, dz: string, win: Window, [h, w]: [number, number]): string {
  const { kernel, strides, pads, cin, oh, ow } = win;
  if (blocks(ctx, cin) && kernel[1] >= strides[1]) return blockedDepthwiseKernelGrad(ctx, x, dz, win, [h, w]);
  const { g } = ctx;
  // The padded input spans exactly what the output positions read, except where the stride leaves
  // rows or columns at the end that none reads (no padding then): those are cut off.
  const span = [(oh - 1) * strides[0] + kernel[0], (ow - 1) * strides[1] + kernel[1]];
  const cut = h + pads[0] + pads[2] > span[0] || w + pads[1] + pads[3] > span[1];
  const xs = cut ? g.node('Slice', [x, g.ints([0, 0]), g.ints([span[0] - pads[0], span[1] - pads[1]]), g.ints([2, 3])]) : x;
  const [sh, sw] = cut ? [span[0] - pads[0], span[1] - pads[1]] : [h, w];
  const xt = g.node('Reshape', [g.node('Transpose', [xs], { perm: [1, 0, 2, 3] }), g.ints([1, -1, sh, sw])]); // [1, C*B, H, W]
  const dzT = g.node('Transpose', [dz], { perm: [1, 0, 2, 3] }); // [C, B, oh, ow]
  const dw = g.node('Conv', [xt, dzT], { kernel_shape: [oh, ow], dilations: strides, group: cin, pads: cut ? undefined : pads }); // [1, C, kh, kw]
  return g.node('Reshape', [g.node('Transpose', [dw], { perm: [2, 3, 1, 0] }), g.ints([kernel[0], kernel[1], cin, 1])]);
}

/**
 * A depthwise kernel's gradient [kh, kw, C, 1] through MLAS's NCHWc depthwise convolution, which
 * keeps each channel block's sums in vector registers instead of copying every tap (im2col) as
 * the grouped Conv above does: 1.9-2.3x faster at 32x32 and 64x64 (batch 32, 2 threads), about
 * the same at 8x8. The batch goes into the width: x, padded, as one wide image per channel
 * [1, C, Hx, B * Wx] (each image Wx = S * stride columns apart), and dz, padded with zero
 * columns to S, as that channel's kernel [C, 1, oh, B * S], dilated by the stride. Where kernel
 * row i, column b * S + j meets the input, it reads image b's x at (i * sh + u, j * sw + v), so
 * the output at (u, v) sums x * dz over the batch and every position. (The kernel's width
 * depends on the batch, so it is left for onnxruntime to read from dz's shape.)
 */
function blockedDepthwiseKernelGrad(ctx: Ctx, x: string, dz: string, { kernel, strides, pads, cin, oh, ow }: Window, [h, w]: [number, number]): string {
  const { g } = ctx;
  const b = ctx.nchwcBlock;
  const span = [(oh - 1) * strides[0] + kernel[0], (ow - 1) * strides[1] + kernel[1]];
  const s = Math.ceil(span[1] / strides[1]); // each image's columns in the kernel
  const wx = s * strides[1]; // and in the input
  // x padded (or cut) to exactly span[0] rows and wx columns.
  const bottom = span[0] - pads[0] - h;
  const right = wx - pads[1] - w;
  const cutTo = [bottom < 0 ? h + bottom : h, right < 0 ? w + right : w];
  const xs = bottom < 0 || right < 0 ? g.node('Slice', [x, g.ints([0, 0]), g.ints(cutTo), g.ints([2, 3])]) : x;
  const padded = [pads[0], pads[1], Math.max(0, bottom), Math.max(0, right)];
  const xp = padded.some((p) => p > 0) ? g.node('Pad', [xs, g.ints([0, 0, padded[0], padded[1], 0, 0, padded[2], padded[3]])]) : xs;
  // Each reordered to channel blocks [B, C/b, rows, columns, b], then its images put side by side
  // by a transpose that moves whole blocked rows: [C/b, rows, B, columns * b]. That is x as the
  // blocked wide image [1, C/b, Hx, B*Wx, b] (seen as [1, C, Hx, B*Wx]) and dz as the blocked
  // depthwise kernel [C/b, 1, oh, B*S, b] (seen as [C, 1, oh, B*S]). (One transpose that moves
  // the block to the end instead runs several times slower.)
  const blockedWide = (t: string, rows: number, columns: number) =>
    g.node('Transpose', [g.node('Reshape', [g.nodeIn(NCHWC_DOMAIN, 'ReorderInput', [t]), g.ints([-1, cin / b, rows, columns * b])])], { perm: [1, 2, 0, 3] });
  const wide = g.node('Reshape', [blockedWide(xp, span[0], wx), g.ints([1, cin, span[0], -1])]);
  const dzp = s > ow ? g.node('Pad', [dz, g.ints([0, 0, 0, 0, 0, 0, 0, s - ow])]) : dz;
  const filter = g.node('Reshape', [blockedWide(dzp, oh, s), g.ints([cin, 1, oh, -1])]);
  const y = g.nodeIn(NCHWC_DOMAIN, 'Conv', [wide, filter], {
    dilations: strides,
    group: cin,
    pads: [0, 0, 0, kernel[1] - strides[1]],
  });
  const dw = g.nodeIn(NCHWC_DOMAIN, 'ReorderOutput', [y], { channels: cin }); // [1, C, kh, kw]
  return g.node('Reshape', [g.node('Transpose', [dw], { perm: [2, 3, 1, 0] }), g.ints([kernel[0], kernel[1], cin, 1])]);
}

/** A depthwise kernel [kh, kw, C, 1] (flipped in space where `flip`) in the NCHWc depthwise Conv's layout [C/b, 1, kh, kw, b], seen as [C, 1, kh, kw]. */
function blockedDepthwiseKernel(ctx: Ctx, hwcm: string, [kh, kw]: [number, number], channels: number, flip: boolean): string {
  const { g } = ctx;
  const b = ctx.nchwcBlock;
  const k = flip ? g.node('Slice', [hwcm, g.ints([-1, -1]), g.ints([-(2 ** 31), -(2 ** 31)]), g.ints([0, 1]), g.ints([-1, -1])]) : hwcm;
  const t = g.node('Transpose', [g.node('Reshape', [k, g.ints([kh, kw, channels / b, b])])], { perm: [2, 0, 1, 3] }); // [C/b, kh, kw, b]
  return g.node('Reshape', [t, g.ints([channels, 1, kh, kw])]);
}

/**
 * DepthwiseConv2D (depth multiplier 1): a grouped convolution, one group per channel. Its input
 * gradient is the same grouped convolution run backwards (stride 1: with the flipped kernel;
 * stride 2: ConvTranspose); its kernel gradient, x correlated with dz per channel.
 */
function depthwiseConv2d(ctx: Ctx, layer: tf.layers.Layer, x: string, needsDx: boolean): { y: string; back: (dy: string) => string | null } {
  const { g } = ctx;
  const c = layer.getConfig();
  const { kernel, strides } = convWindow(layer, c);
  if ((c.depthMultiplier ?? 1) !== 1) throw new Error(`${layer.name}: a depth multiplier other than 1 is not supported by the onnxruntime trainer.`);
  const [, h, w, channels] = shapeOf(layer, 'in');
  const [, oh, ow] = shapeOf(layer, 'out');
  const pads = padsFor(c.padding, [h, w], kernel, strides);
  const kVar = weight(layer, 'depthwise_kernel')!;
  const bVar = c.useBias ? weight(layer, 'bias') : undefined;
  // With whole channel blocks, MLAS's NCHWc depthwise Conv (x reordered to blocks and back):
  // 1.1x at 32x32x128 to 3.3x at 8x8x512 against the plain grouped Conv (batch 32, 2 threads).
  const blocked = blocks(ctx, channels);
  const hwcm = ctx.weightIn.get(kVar)!;
  const bias = bVar ? [ctx.weightIn.get(bVar)!] : [];
  // [kh, kw, C, 1] -> [C, 1, kh, kw]: each output channel reads its own input channel.
  let cmhw: string | undefined;
  const wCmhw = () => (cmhw ??= g.node('Transpose', [hwcm], { perm: HWCM_TO_CMHW }));
  const z = blocked
    ? nchwcConv(ctx, x, channels, blockedDepthwiseKernel(ctx, hwcm, kernel, channels, false), bias, { kernel_shape: kernel, strides, pads, group: channels }, channels)
    : g.node('Conv', [x, wCmhw(), ...bias], { kernel_shape: kernel, strides, pads, group: channels });
  const act = activation(ctx, layer, c.activation, z);
  return {
    y: act ? act.y : z,
    back: (dyIn) => {
      const dz = act ? act.back(dyIn) : dyIn;
      if (learns(bVar)) ctx.weightGrads.set(bVar, sumOver(g, dz, [0, 2, 3]));
      if (learns(kVar)) ctx.weightGrads.set(kVar, depthwiseKernelGrad(ctx, x, dz, { kernel, strides, pads, cin: channels, cout: channels, oh, ow }, [h, w]));
      if (!needsDx) return null;
      if (strides[0] === 1 && strides[1] === 1) {
        const back = [kernel[0] - 1 - pads[0], kernel[1] - 1 - pads[1], kernel[0] - 1 - pads[2], kernel[1] - 1 - pads[3]];
        if (blocked) return nchwcConv(ctx, dz, channels, blockedDepthwiseKernel(ctx, hwcm, kernel, channels, true), [], { kernel_shape: kernel, pads: back, group: channels }, channels);
        const flipped = g.node('Slice', [wCmhw(), g.ints([-1, -1]), g.ints([-(2 ** 31), -(2 ** 31)]), g.ints([2, 3]), g.ints([-1, -1])]);
        return g.node('Conv', [dz, flipped], { kernel_shape: kernel, pads: back, group: channels });
      }
      const outputPadding = [h - ((oh - 1) * strides[0] + kernel[0] - pads[0] - pads[2]), w - ((ow - 1) * strides[1] + kernel[1] - pads[1] - pads[3])];
      return g.node('ConvTranspose', [dz, wCmhw()], { kernel_shape: kernel, strides, pads, output_padding: outputPadding, group: channels });
    },
  };
}

function batchNorm(ctx: Ctx, layer: tf.layers.Layer, x: string): { y: string; back: (dy: string) => string } {
  const { g } = ctx;
  const c = layer.getConfig();
  const eps = g.scalar(c.epsilon as number);
  const channels = shapeOf(layer, 'in').at(-1)!;
  const gammaVar = weight(layer, 'gamma');
  const betaVar = weight(layer, 'beta');
  const meanVar = weight(layer, 'moving_mean')!;
  const varVar = weight(layer, 'moving_variance')!;
  const bc = (v: string) => g.node('Reshape', [v, g.ints([1, channels, 1, 1])]);
  const gamma = gammaVar ? bc(ctx.weightIn.get(gammaVar)!) : null;
  const beta = betaVar ? bc(ctx.weightIn.get(betaVar)!) : null;
  const axes = { axes: [0, 2, 3], keepdims: 1 };
  if (!ctx.training || ctx.frozenBatchNorm || !layer.trainable) {
    // The moving statistics normalise: per-channel constants of the step, so the layer is
    // y = x * a + b with a = gamma / sigma, b = beta - mean * a, and x's gradient is dy * a.
    const inv = g.node('Reciprocal', [g.node('Sqrt', [g.node('Add', [bc(ctx.weightIn.get(varVar)!), eps])])]);
    const mean = bc(ctx.weightIn.get(meanVar)!);
    const a = gamma ? g.node('Mul', [inv, gamma]) : inv;
    const shift = g.node('Neg', [g.node('Mul', [mean, a])]);
    const y = g.node('Add', [g.node('Mul', [x, a]), beta ? g.node('Add', [shift, beta]) : shift]);
    return {
      y,
      back: (dy) => {
        if (learns(gammaVar)) ctx.weightGrads.set(gammaVar, g.node('Mul', [sumOver(g, g.node('Mul', [dy, g.node('Sub', [x, mean])]), [0, 2, 3]), g.node('Reshape', [inv, g.ints([-1])])]));
        if (learns(betaVar)) ctx.weightGrads.set(betaVar, sumOver(g, dy, [0, 2, 3]));
        return g.node('Mul', [dy, a]);
      },
    };
  }
  // Training mode, written for few passes over the activations (6 forward, 7 backward, against 7
  // and 11 written out as the textbook does; each is memory-bound): with xc = x - mean and inv = 1/sigma, y = xc * (gamma * inv) + beta, and
  // the input gradient, inv * gamma * (dy - mean(dy) - xhat * mean(dy * xhat)) with
  // xhat = xc * inv, is dy * A + xc * K + C with per-channel A, K and C.
  const mean = g.node('ReduceMean', [x], axes);
  const xc = g.node('Sub', [x, mean]);
  const variance = g.node('ReduceMean', [g.node('Mul', [xc, xc])], axes);
  const inv = g.node('Reciprocal', [g.node('Sqrt', [g.node('Add', [variance, eps])])]);
  const a = gamma ? g.node('Mul', [inv, gamma]) : inv;
  const scaled = g.node('Mul', [xc, a]);
  const momentum = c.momentum as number;
  const update = (old: tf.LayerVariable, batch: string) =>
    g.node('Add', [g.node('Mul', [ctx.weightIn.get(old)!, g.scalar(momentum)]), g.node('Mul', [g.node('Reshape', [batch, g.ints([channels])]), g.scalar(1 - momentum)])]);
  ctx.frozenOut.set(meanVar, update(meanVar, mean));
  ctx.frozenOut.set(varVar, update(varVar, variance));
  return {
    y: beta ? g.node('Add', [scaled, beta]) : scaled,
    back: (dy) => {
      const sumDy = sumOver(g, dy, [0, 2, 3], 1); // [1, C, 1, 1]
      const sumDyXhat = g.node('Mul', [sumOver(g, g.node('Mul', [dy, xc]), [0, 2, 3], 1), inv]);
      if (learns(gammaVar)) ctx.weightGrads.set(gammaVar, g.node('Reshape', [sumDyXhat, g.ints([-1])]));
      if (learns(betaVar)) ctx.weightGrads.set(betaVar, g.node('Reshape', [sumDy, g.ints([-1])]));
      // 1/N, N = B * H * W: the elements each channel's statistics are taken over.
      const invN = g.node('Div', [g.scalar(channels), g.node('Cast', [g.node('Size', [x])], { to: FLOAT })]);
      const aN = g.node('Mul', [a, invN]);
      const k = g.node('Neg', [g.node('Mul', [g.node('Mul', [aN, sumDyXhat]), inv])]);
      const c0 = g.node('Neg', [g.node('Mul', [aN, sumDy])]);
      // (Add rather than a three-way Sum: onnxruntime's Sum with broadcasting is several times slower.)
      return g.node('Add', [g.node('Add', [g.node('Mul', [dy, a]), g.node('Mul', [xc, k])]), c0]);
    },
  };
}

function dense(ctx: Ctx, layer: tf.layers.Layer, x: string, needsDx: boolean): { y: string; logits: string; back: (dy: string) => string | null } {
  const { g } = ctx;
  const c = layer.getConfig();
  const kVar = weight(layer, 'kernel')!;
  const bVar = c.useBias ? weight(layer, 'bias') : undefined;
  const z = g.node('Gemm', [x, ctx.weightIn.get(kVar)!, ...(bVar ? [ctx.weightIn.get(bVar)!] : [])]);
  const softmax = c.activation === 'softmax';
  const act = softmax ? null : activation(ctx, layer, c.activation, z);
  const y = act ? act.y : softmax ? g.node('Softmax', [z], { axis: -1 }) : z;
  return {
    y,
    logits: z,
    back: (dyIn) => {
      const dz = act ? act.back(dyIn) : dyIn;
      if (learns(kVar)) ctx.weightGrads.set(kVar, g.node('Gemm', [x, dz], { transA: 1 }));
      if (learns(bVar)) ctx.weightGrads.set(bVar, sumOver(g, dz, [0]));
      return needsDx ? g.node('Gemm', [dz, ctx.weightIn.get(kVar)!], { transB: 1 }) : null;
    },
  };
}

/**
 * The gradient of a max pooling whose windows tile the input ('valid', stride = size), exact for
 * tied maxima: each window's gradient goes to its first maximum in row-major order, as TF.js's.
 * In the input's shape, with the pooled values and dy repeated over their windows (Resize,
 * nearest): positions equal to the maximum score by their place in the window (first highest);
 * the window's best score, pooled and repeated, picks one. Rows and columns no window reads (an
 * odd size) get 0. Against MaxPool with indices and a ScatterElements of dy: 1.3-1.6x on
 * cnn-small's pools alone.
 */
function tilingMaxPoolGrad(ctx: Ctx, x: string, y: string, dy: string, [kh, kw]: [number, number], [ih, iw]: [number, number]): string {
  const { g } = ctx;
  const [h, w] = [ih - (ih % kh), iw - (iw % kw)];
  const cut = h < ih || w < iw;
  const xs = cut ? g.node('Slice', [x, g.ints([0, 0]), g.ints([h, w]), g.ints([2, 3])]) : x;
  const up = (t: string) => g.node('Resize', [t, '', g.floats([1, 1, kh, kw])], { mode: 'nearest', nearest_mode: 'floor', coordinate_transformation_mode: 'asymmetric' });
  const place = Float32Array.from({ length: h * w }, (_, i) => kh * kw - (Math.floor(i / w) % kh) * kw - ((i % w) % kw)); // kh*kw at a window's first position ... 1 at its last
  const score = g.node('Mul', [g.node('Cast', [g.node('Equal', [xs, up(y)])], { to: FLOAT }), g.floats(place, [1, 1, h, w])]);
  const best = g.node('MaxPool', [score], { kernel_shape: [kh, kw], strides: [kh, kw] });
  const dx = g.node('Mul', [g.node('Cast', [g.node('Equal', [score, up(best)])], { to: FLOAT }), up(dy)]);
  return cut ? g.node('Pad', [dx, g.ints([0, 0, 0, 0, 0, 0, ih - h, iw - w])]) : dx;
}

interface Built {
  probs: string;
  logits: string;
}

function walk(ctx: Ctx, model: tf.LayersModel): Built {
  const { g } = ctx;
  const inShape = (model.inputs[0].shape as (number | null)[]).slice(1).map((d) => d ?? -1);
  if (inShape.length !== 3 && inShape.length !== 1) throw new Error(`The onnxruntime trainer takes images or feature vectors, not a ${inShape.length + 1}-D input.`);
  const x = g.input('x', ['B', ...inShape]);
  ctx.values.set((model.inputs[0] as unknown as { id: number }).id, inShape.length === 3 ? g.node('Transpose', [x], { perm: NHWC_TO_NCHW }) : x);
  // Values that depend on a trainable weight: only their gradients are ever needed.
  const requiresGrad = new Set<number>();
  const layers = model.layers as LayerLike[];
  let last: Built | null = null;
  const lastLayer = layers[layers.length - 1];
  for (const layer of layers) {
    const cls = layer.getClassName();
    if (cls === 'InputLayer') continue;
    const node = layer.inboundNodes[0];
    const inIds = node.inputTensors.map((t) => t.id);
    const outId = node.outputTensors[0].id;
    const inputs = inIds.map((id) => ctx.values.get(id)!);
    // The input (pixels or features), and what is computed from it without weights, needs no gradient.
    const needsDx = inIds.some((id) => requiresGrad.has(id));
    if (needsDx || layer.trainableWeights.length > 0) requiresGrad.add(outId);
    let y: string;
    let back: ((dy: string) => (string | null)[]) | null = null;
    switch (cls) {
      case 'Conv2D': {
        const r = conv2d(ctx, layer, inputs[0], needsDx);
        y = r.y;
        back = (dy) => [r.back(dy)];
        break;
      }
      case 'DepthwiseConv2D': {
        const r = depthwiseConv2d(ctx, layer, inputs[0], needsDx);
        y = r.y;
        back = (dy) => [r.back(dy)];
        break;
      }
      case 'BatchNormalization': {
        const r = batchNorm(ctx, layer, inputs[0]);
        y = r.y;
        back = (dy) => [r.back(dy)];
        break;
      }
      case 'Activation':
      case 'ReLU': {
        const c = layer.getConfig();
        const r = cls === 'ReLU' ? (c.maxValue == null ? relu(ctx, inputs[0]) : clippedRelu(ctx, inputs[0], c.maxValue as number)) : activation(ctx, layer, c.activation, inputs[0]);
        y = r ? r.y : inputs[0];
        back = (dy) => [r ? r.back(dy) : dy];
        break;
      }
      case 'Rescaling': {
        // Preprocessing in front of a backbone: x * scale + offset (per channel where given as lists).
        const c = layer.getConfig();
        const channels = shapeOf(layer, 'in').at(-1)!;
        const perChannel = (v: unknown) => (Array.isArray(v) ? g.floats(v as number[], [1, channels, 1, 1]) : g.scalar(v as number));
        const scale = perChannel(c.scale);
        y = g.node('Add', [g.node('Mul', [inputs[0], scale]), perChannel(c.offset)]);
        back = (dy) => [g.node('Mul', [dy, scale])];
        break;
      }
      case 'MaxPooling2D': {
        const c = layer.getConfig();
        const kernel = pair(c.poolSize);
        const strides = pair(c.strides ?? c.poolSize);
        const [, ih, iw] = shapeOf(layer, 'in');
        const pads = padsFor(c.padding, [ih, iw], kernel, strides);
        if (ctx.training && kernel[0] === strides[0] && kernel[1] === strides[1] && pads.every((p) => p === 0)) {
          y = g.node('MaxPool', [inputs[0]], { kernel_shape: kernel, strides });
          const out = y;
          back = (dy) => [tilingMaxPoolGrad(ctx, inputs[0], out, dy, kernel, [ih, iw])];
          break;
        }
        const [out, indices] = g.nodeN('MaxPool', [inputs[0]], ctx.training ? 2 : 1, { kernel_shape: kernel, strides, pads });
        y = out;
        back = (dy) => {
          const shape = g.node('Shape', [inputs[0]]);
          const zeros = g.node('Reshape', [g.node('ConstantOfShape', [shape]), g.ints([-1])]);
          const flat = g.node('ScatterElements', [zeros, g.node('Reshape', [indices, g.ints([-1])]), g.node('Reshape', [dy, g.ints([-1])])], { axis: 0, reduction: 'add' });
          return [g.node('Reshape', [flat, shape])];
        };
        break;
      }
      case 'ZeroPadding2D': {
        // Keras applications pad before their stride-2 'valid' convolutions; the gradient is the inner part.
        const c = layer.getConfig();
        if (c.dataFormat === 'channelsFirst') throw new Error(`${layer.name}: channels-first padding is not supported by the onnxruntime trainer.`);
        const [[top, bottom], [left, right]] = c.padding as [[number, number], [number, number]];
        const [, ph, pw] = shapeOf(layer, 'out');
        y = g.node('Pad', [inputs[0], g.ints([0, 0, top, left, 0, 0, bottom, right])]);
        back = (dy) => [g.node('Slice', [dy, g.ints([top, left]), g.ints([ph - bottom, pw - right]), g.ints([2, 3])])];
        break;
      }
      case 'Flatten': {
        const [, fh, fw, fc] = shapeOf(layer, 'in');
        y = g.node('Reshape', [g.node('Transpose', [inputs[0]], { perm: NCHW_TO_NHWC }), g.ints([0, -1])]);
        back = (dy) => [g.node('Transpose', [g.node('Reshape', [dy, g.ints([-1, fh, fw, fc])])], { perm: NHWC_TO_NCHW })];
        break;
      }
      case 'GlobalAveragePooling2D': {
        const [, gh, gw] = shapeOf(layer, 'in');
        y = g.node('ReduceMean', [inputs[0]], { axes: [2, 3], keepdims: 0 });
        back = (dy) => {
          const scaled = g.node('Mul', [g.node('Unsqueeze', [dy, g.ints([2, 3])]), g.scalar(1 / (gh * gw))]);
          return [g.node('Expand', [scaled, g.node('Shape', [inputs[0]])])];
        };
        break;
      }
      case 'Dropout': {
        if (!ctx.training) {
          y = inputs[0];
          break;
        }
        // Masks come in NHWC like TF.js tensors (any sample layout works for training; this one
        // makes the graph comparable with TF.js in tests).
        const dims = shapeOf(layer, 'in').slice(1);
        const features = dims.reduce((a, b) => a * b, 1);
        const maskIn = g.input(`mask${ctx.dropouts.length}`, ['B', ...dims]);
        const mask = dims.length === 3 ? g.node('Transpose', [maskIn], { perm: NHWC_TO_NCHW }) : maskIn;
        ctx.dropouts.push({ features, dims, rate: layer.getConfig().rate as number, input: maskIn });
        y = g.node('Mul', [inputs[0], mask]);
        back = (dy) => [g.node('Mul', [dy, mask])];
        break;
      }
      case 'Add': {
        y = g.node('Sum', inputs);
        back = (dy) => inputs.map(() => dy);
        break;
      }
      case 'Dense': {
        const r = dense(ctx, layer, inputs[0], needsDx);
        y = r.y;
        if (layer === lastLayer) {
          if (layer.getConfig().activation !== 'softmax') throw new Error('The last layer must be a dense softmax.');
          last = { probs: r.y, logits: r.logits };
          // The loss gradient with respect to the logits comes in as `dy` (softmax folded in).
        }
        back = (dy) => [r.back(dy)];
        break;
      }
      default:
        throw new Error(`Layer ${layer.name} (${cls}) is not supported by the onnxruntime trainer.`);
    }
    ctx.values.set(outId, y);
    if (back) {
      const run = back;
      ctx.backward.push(() => {
        const dy = gradOf(ctx, outId);
        if (dy === null) return;
        const dxs = run(dy);
        inIds.forEach((id, i) => {
          const dx = dxs[i];
          if (dx) addGrad(ctx, id, dx);
        });
      });
    }
  }
  if (!last) throw new Error('The model must end in a dense softmax layer.');
  return last;
}

function newContext(training: boolean, name: string, model: tf.LayersModel, options: TrainingOptions = {}, constants?: Float32Array[], runtime: RuntimeTraits = {}): Ctx {
  // Counter names and shared constants: a training step has thousands of values no one reads.
  const g = new GraphBuilder({ name, names: 'counter', dedupeConstants: true });
  const weightIn = new Map<tf.LayerVariable, string>();
  model.weights.forEach((w, i) => weightIn.set(w, constants ? g.floats(constants[i], w.shape as number[], `w${i}`) : g.input(`w${i}`, w.shape as number[])));
  return { g, training, frozenBatchNorm: options.frozenBatchNorm ?? false, values: new Map(), weightIn, backward: [], grads: new Map(), weightGrads: new Map(), frozenOut: new Map(), dropouts: [], nchwcBlock: runtime.nchwcBlock ?? 0 };
}

/**
 * The inference graph: inputs x (NHWC in [0,1]) and w0..wN; output probs [B, classes]. With
 * `weights` (in model.weights order) they are constants of the graph instead of inputs, which lets
 * onnxruntime fuse and re-layout its convolutions (several times faster for a convolutional backbone).
 */
export function inferenceGraph(model: tf.LayersModel, weights?: Float32Array[]): Uint8Array {
  const ctx = newContext(false, 'loupe_infer', model, {}, weights);
  const { probs } = walk(ctx, model);
  ctx.g.output('probs', probs, ['B', model.outputs[0].shape[1] as number]);
  return ctx.g.encode({ opset: OPSET });
}

/**
 * The training step. Inputs: x, y (one-hot), invB (1/batch), lr, Adam's c1 = 1/(1-beta1^t) and
 * c2 = 1/(1-beta2^t), w0..wN, optimizer slots s<k>_<i>, dropout masks. Outputs: loss (summed over
 * the batch), correct (count), every weight's new value (wN_new), and the new slots. Weights that
 * are not trainable come out unchanged (batch norm's moving statistics: updated unless frozen).
 */
export function trainingGraph(model: tf.LayersModel, optimizer: OptimizerSpec, options: TrainingOptions = {}, runtime: RuntimeTraits = {}): TrainingGraph {
  const ctx = newContext(true, 'loupe_train', model, options, undefined, runtime);
  const { g } = ctx;
  const classes = model.outputs[0].shape[1] as number;
  const y = g.input('y', ['B', classes]);
  const invB = g.input('invB', []);
  const lr = g.input('lr', []);
  const c1 = g.input('c1', []);
  const c2 = g.input('c2', []);
  const { probs, logits } = walk(ctx, model);

  const logp = g.node('LogSoftmax', [logits], { axis: -1 });
  const loss = g.node('Neg', [g.node('ReduceSum', [g.node('Mul', [y, logp])], { keepdims: 0 })]);
  const hits = g.node('Equal', [g.node('ArgMax', [logits], { axis: 1, keepdims: 0 }), g.node('ArgMax', [y], { axis: 1, keepdims: 0 })]);
  const correct = g.node('ReduceSum', [g.node('Cast', [hits], { to: 1 })], { keepdims: 0 });
  void probs;
  // d(mean loss)/d(logits) = (softmax - y) / B; the last dense layer's backward takes it from here.
  const lastOut = (model.layers[model.layers.length - 1] as LayerLike).inboundNodes[0].outputTensors[0].id;
  addGrad(ctx, lastOut, g.node('Mul', [g.node('Sub', [g.node('Softmax', [logits], { axis: -1 }), y]), invB]));
  for (const step of [...ctx.backward].reverse()) step();

  g.output('loss', loss, []);
  g.output('correct', correct, []);
  const slots = optimizer.kind === 'adam' ? 2 : optimizer.kind === 'momentum' ? 1 : 0;
  const trainable: number[] = [];
  const layerOf = new Map<tf.LayerVariable, string>();
  for (const layer of model.layers) for (const wVar of layer.weights) layerOf.set(wVar, layer.name);
  model.weights.forEach((wVar, i) => {
    const shape = wVar.shape as Dim[];
    const w = ctx.weightIn.get(wVar)!;
    if (!wVar.trainable) {
      g.output(`w${i}_new`, ctx.frozenOut.get(wVar) ?? w, shape);
      return;
    }
    trainable.push(i);
    let grad = ctx.weightGrads.get(wVar);
    if (!grad) throw new Error(`No gradient reaches weight ${wVar.name}.`);
    if (optimizer.weightDecay > 0 && wVar.shape.length >= 2) grad = g.node('Add', [grad, g.node('Mul', [w, g.scalar(optimizer.weightDecay)])]);
    const slot = (k: number) => g.input(`s${k}_${i}`, shape);
    const scale = options.lrScale?.[layerOf.get(wVar) ?? ''] ?? 1;
    const lrW = scale === 1 ? lr : g.node('Mul', [lr, g.scalar(scale)]);
    let next: string;
    if (optimizer.kind === 'adam') {
      const m = g.node('Add', [g.node('Mul', [slot(0), g.scalar(ADAM.beta1)]), g.node('Mul', [grad, g.scalar(1 - ADAM.beta1)])]);
      const v = g.node('Add', [g.node('Mul', [slot(1), g.scalar(ADAM.beta2)]), g.node('Mul', [g.node('Mul', [grad, grad]), g.scalar(1 - ADAM.beta2)])]);
      const denom = g.node('Add', [g.node('Sqrt', [g.node('Mul', [v, c2])]), g.scalar(ADAM.epsilon)]);
      next = g.node('Sub', [w, g.node('Div', [g.node('Mul', [g.node('Mul', [m, c1]), lrW]), denom])]);
      g.output(`s0_${i}_new`, m, shape);
      g.output(`s1_${i}_new`, v, shape);
    } else if (optimizer.kind === 'momentum') {
      const v = g.node('Add', [g.node('Mul', [slot(0), g.scalar(optimizer.momentum ?? 0.9)]), grad]);
      next = g.node('Sub', [w, g.node('Mul', [v, lrW])]);
      g.output(`s0_${i}_new`, v, shape);
    } else {
      next = g.node('Sub', [w, g.node('Mul', [grad, lrW])]);
    }
    g.output(`w${i}_new`, next, shape);
  });
  return { bytes: g.encode({ opset: OPSET }), trainable, slots, dropouts: ctx.dropouts.map(({ features, dims, rate }) => ({ features, dims, rate })) };
}
