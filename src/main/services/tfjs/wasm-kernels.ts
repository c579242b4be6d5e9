// TensorFlow.js 4.22's wasm backend has forward kernels for every layer Loupe trains, but not all
// of their gradients: Conv2DBackpropFilter and DepthwiseConv2dNativeBackpropInput/Filter are
// missing, so convolutional training fails there. The kernels below fill the gap by composing
// existing wasm kernels (XNNPACK convolutions, data movement) on TensorInfos: they run at wasm
// speed, bypass the engine and its tape, and free every intermediate they make. Stock kernels
// that training leans on are replaced where they are wrong (MaxPoolGrad) or far slower than a
// route through XNNPACK (Conv2DBackpropInput, transposed BatchMatMul, broadcasting Tile);
// bench/kernels.ts measures each against the stock one, and whole training steps.

import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { type BackendWasm, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

type Info = tf.TensorInfo;
type Pair = [number, number];
/** Spatial pads of an NHWC tensor, [[top, bottom], [left, right]]; negative ones crop. */
type Pads = [Pair, Pair];
type Shape4 = [number, number, number, number];
type Padding = tf.Conv2DBackpropInputAttrs['pad'];
type Rounding = tf.Conv2DBackpropInputAttrs['dimRoundingMode'];

const BACKEND = 'wasm';

/** The stock kernels ours replaced, for the cases ours hand back to them. */
const stockKernels = new Map<string, tf.KernelFunc>();

/** Calls wasm kernels directly and remembers what they made, to free it afterwards. */
class Scope {
  private readonly made: Info[] = [];

  constructor(private readonly backend: tf.KernelBackend) {}

  run(kernelName: string, inputs: Record<string, Info> | Info[], attrs: object = {}): Info {
    const kernel = tf.getKernel(kernelName, BACKEND);
    if (!kernel) throw new Error(`wasm kernel '${kernelName}' is not registered`);
    return this.call(kernel.kernelFunc, inputs, attrs);
  }

  /** Runs the stock kernel that one of ours replaced. */
  stock(kernelName: string, inputs: Record<string, Info> | Info[], attrs: object = {}): Info {
    const kernelFunc = stockKernels.get(kernelName);
    if (!kernelFunc) throw new Error(`no stock wasm kernel '${kernelName}' to hand back to`);
    return this.call(kernelFunc, inputs, attrs);
  }

  private call(kernelFunc: tf.KernelFunc, inputs: Record<string, Info> | Info[], attrs: object): Info {
    const out = kernelFunc({
      inputs: inputs as tf.NamedTensorInfoMap, attrs: attrs as tf.NamedAttrMap, backend: this.backend,
    }) as Info;
    this.made.push(out);
    return out;
  }

  reshape(x: Info, shape: number[]): Info {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: Info, perm: number[]): Info {
    return this.run('Transpose', { x }, { perm });
  }

  /** Frees everything made except `keep` (data is refcounted, so a reshape of `keep` is safe). */
  release(keep?: Info): void {
    for (const t of this.made) if (t !== keep) this.backend.disposeData(t.dataId);
    this.made.length = 0;
  }
}

/** A kernel whose body runs in a fresh scope: only its result outlives it, even if it throws. */
function scopedKernel(body: (s: Scope, inputs: Record<string, Info>, attrs: tf.NamedAttrMap) => Info): tf.KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const s = new Scope(backend as tf.KernelBackend);
    let out: Info | undefined;
    try {
      out = body(s, inputs as Record<string, Info>, attrs ?? {});
      return out;
    } finally {
      s.release(out);
    }
  };
}

function pair(v: number | number[] | undefined): Pair {
  if (v == null) return [1, 1];
  return typeof v === 'number' ? [v, v] : [v[0], v[1] ?? v[0]];
}

function assertNhwc(kernelName: string, dataFormat: unknown): void {
  if (dataFormat != null && dataFormat !== 'NHWC') {
    throw new Error(`wasm ${kernelName} supports dataFormat NHWC only, got ${String(dataFormat)}`);
  }
}

/** tfjs's gradients never pass dilations > 1 (and the cpu reference ignores them). */
function assertNoDilation(kernelName: string, dilations: Pair): void {
  if (dilations[0] !== 1 || dilations[1] !== 1) {
    throw new Error(`wasm ${kernelName} supports dilations of 1 only, got ${dilations.join('x')}`);
  }
}

/** The forward convolution whose gradient is wanted. */
interface Geometry {
  inShape: Shape4;
  filterShape: Shape4;
  strides: Pair;
  pad: Padding;
  dimRoundingMode?: Rounding;
  depthwise: boolean;
}

function forwardInfo(g: Geometry): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(g.inShape, g.filterShape, g.strides, 1, g.pad, g.dimRoundingMode, g.depthwise);
}

/**
 * Readies NHWC `x` for a convolution with `pads`: negative pads are cropped now (Slice) and the
 * positive ones become the convolution's explicit padding, which costs no copy.
 */
function cropForConv(s: Scope, x: Info, [[t, b], [l, r]]: Pads): { x: Info; pad: number[][] } {
  if (Math.min(t, b, l, r) < 0) {
    const [n, h, w, c] = x.shape;
    const top = Math.max(0, -t);
    const left = Math.max(0, -l);
    const size = [n, h - top - Math.max(0, -b), w - left - Math.max(0, -r), c];
    x = s.run('Slice', { x }, { begin: [0, top, left, 0], size });
  }
  return { x, pad: [[0, 0], [Math.max(0, t), Math.max(0, b)], [Math.max(0, l), Math.max(0, r)], [0, 0]] };
}

/** Spreads the pixels of NHWC `dy` `strides` apart, zeros between: [N,H,W,C] -> [N,H*sH,W*sW,C]. */
function dilate(s: Scope, dy: Info, [sH, sW]: Pair): Info {
  if (sH === 1 && sW === 1) return dy;
  const [n, h, w, c] = dy.shape;
  const spread = s.run('PadV2', { x: s.reshape(dy, [n, h, 1, w, 1, c]) }, {
    paddings: [[0, 0], [0, 0], [0, sH - 1], [0, 0], [0, sW - 1], [0, 0]],
    constantValue: 0,
  });
  return s.reshape(spread, [n, h * sH, w * sW, c]);
}

/**
 * dx of a convolution is a stride-1 correlation of the stride-dilated dy with the spatially
 * flipped filter. Returns that dilated dy, cropped, and the correlation's explicit padding.
 */
function transposedConvInput(s: Scope, dy: Info, g: Geometry): { x: Info; pad: number[][] } {
  const info = forwardInfo(g);
  const z = dilate(s, dy, g.strides);
  const [, zh, zw] = z.shape;
  return cropForConv(s, z, [
    [info.filterHeight - 1 - info.padInfo.top, info.inHeight + info.padInfo.top - zh],
    [info.filterWidth - 1 - info.padInfo.left, info.inWidth + info.padInfo.left - zw],
  ]);
}

/**
 * The filter gradient is a correlation of x with dy as the filter, dilated by the forward stride:
 * dW[i,j] = sum over p,q of x[p*sH + i - top, q*sW + j - left] * dy[p,q]. Returns x's padding
 * (and crop) for it.
 */
function filterGradInput(s: Scope, x: Info, dyHW: Pair, g: Geometry): { x: Info; pad: number[][] } {
  const info = forwardInfo(g);
  const extent = (f: number, out: number, stride: number) => f + (out - 1) * stride;
  return cropForConv(s, x, [
    [info.padInfo.top, extent(info.filterHeight, dyHW[0], g.strides[0]) - info.padInfo.top - info.inHeight],
    [info.padInfo.left, extent(info.filterWidth, dyHW[1], g.strides[1]) - info.padInfo.left - info.inWidth],
  ]);
}

const conv2DBackpropInput = scopedKernel((s, inputs, attrs) => {
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as tf.Conv2DBackpropInputAttrs;
  assertNhwc('Conv2DBackpropInput', dataFormat);
  const { dy, filter } = inputs;
  const g: Geometry = {
    inShape: inputShape, filterShape: filter.shape as Shape4, strides: pair(strides), pad, dimRoundingMode, depthwise: false,
  };
  const { x, pad: explicit } = transposedConvInput(s, dy, g);
  // [fh, fw, inC, outC] flipped in space, with in and out swapped.
  const flipped = s.transpose(s.run('Reverse', { x: filter }, { dims: [0, 1] }), [0, 1, 3, 2]);
  return s.run('Conv2D', { x, filter: flipped }, { strides: 1, dilations: 1, pad: explicit, dataFormat: 'NHWC' });
});

/** Swaps batch and channels: x [N,H,W,inC] -> [inC,H,W,N], dy [N,Ho,Wo,outC] -> [Ho,Wo,N,outC]. */
const conv2DBackpropFilter = scopedKernel((s, inputs, attrs) => {
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  assertNhwc('Conv2DBackpropFilter', dataFormat);
  const { x, dy } = inputs;
  const g: Geometry = {
    inShape: x.shape as Shape4, filterShape, strides: pair(strides), pad, dimRoundingMode, depthwise: false,
  };
  const { x: xt, pad: explicit } = filterGradInput(s, s.transpose(x, [3, 1, 2, 0]), [dy.shape[1], dy.shape[2]], g);
  const dw = s.run('Conv2D', { x: xt, filter: s.transpose(dy, [1, 2, 0, 3]) }, {
    strides: 1, dilations: g.strides, pad: explicit, dataFormat: 'NHWC',
  });
  return s.transpose(dw, [1, 2, 0, 3]);
});

/** As conv2DBackpropInput, depthwise; then each input channel sums its M multiplier outputs. */
const depthwiseConv2dNativeBackpropInput = scopedKernel((s, inputs, attrs) => {
  const { strides, dilations, pad, dimRoundingMode, inputShape } =
    attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  assertNoDilation('DepthwiseConv2dNativeBackpropInput', pair(dilations));
  const { dy, filter } = inputs;
  const [fh, fw, c, m] = filter.shape;
  const g: Geometry = {
    inShape: inputShape, filterShape: filter.shape as Shape4, strides: pair(strides), pad, dimRoundingMode, depthwise: true,
  };
  const { x, pad: explicit } = transposedConvInput(s, dy, g);
  const flipped = s.reshape(s.run('Reverse', { x: filter }, { dims: [0, 1] }), [fh, fw, c * m, 1]);
  const dx = s.run('DepthwiseConv2dNative', { x, filter: flipped }, { strides: 1, dilations: 1, pad: explicit });
  if (m === 1) return dx;
  const [n, h, w] = inputShape;
  return s.run('Sum', { x: s.reshape(dx, [n, h, w, c, m]) }, { axis: [4], keepDims: false });
});

/**
 * As conv2DBackpropFilter, depthwise: the batch folds into the channels (x -> [1,H,W,N*C],
 * dy -> filter [Ho,Wo,N*C,M]), and the per-image results are summed at the end.
 */
const depthwiseConv2dNativeBackpropFilter = scopedKernel((s, inputs, attrs) => {
  const { strides, dilations, pad, dimRoundingMode, filterShape } =
    attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  assertNoDilation('DepthwiseConv2dNativeBackpropFilter', pair(dilations));
  const { x, dy } = inputs;
  const [n, h, w, c] = x.shape;
  const [, ho, wo] = dy.shape;
  const [fh, fw, , m] = filterShape;
  const g: Geometry = {
    inShape: x.shape as Shape4, filterShape, strides: pair(strides), pad, dimRoundingMode, depthwise: true,
  };
  const folded = s.reshape(s.transpose(x, [1, 2, 0, 3]), [1, h, w, n * c]);
  const { x: xf, pad: explicit } = filterGradInput(s, folded, [ho, wo], g);
  const f = s.reshape(s.transpose(dy, [1, 2, 0, 3]), [ho, wo, n * c, m]);
  const perImage = s.run('DepthwiseConv2dNative', { x: xf, filter: f }, { strides: 1, dilations: g.strides, pad: explicit });
  const dw = s.run('Sum', { x: s.reshape(perImage, [fh * fw, n, c * m]) }, { axis: [1], keepDims: false });
  return s.reshape(dw, filterShape);
});

/**
 * The stock wasm MaxPoolGrad starts each window's max search at FLT_MIN
 * (std::numeric_limits<float>::min()) instead of -inf, so a window with no value above 1.2e-38
 * (all negative, or all zero after a relu) loses its gradient or sends it to element 0, and ties go
 * to the last maximum. This one does what the cpu backend does: the first maximum gets dy. It
 * loops in JS over the wasm heap, and still beats the stock C++ loop.
 */
const maxPoolGrad: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolGradAttrs;
  const { dy, input } = inputs as { dy: Info; input: Info };
  const info = tf.backend_util.computePool2DInfo(input.shape as Shape4, filterSize, strides, 1, pad, dimRoundingMode);
  const wasm = backend as BackendWasm;
  const out = wasm.makeOutput(input.shape, 'float32');
  // Views only after the allocation: it may grow (and so detach) the heap.
  const x = wasm.typedArrayFromHeap(input) as Float32Array;
  const dx = wasm.typedArrayFromHeap(out) as Float32Array;
  dx.fill(0);
  addToFirstMaxima(x, wasm.typedArrayFromHeap(dy) as Float32Array, dx, info);
  return out;
};

/** Adds each dy to the first maximum of its window in x (NHWC; pads hold no candidates). */
function addToFirstMaxima(x: Float32Array, dy: Float32Array, dx: Float32Array, info: tf.backend_util.Conv2DInfo): void {
  const { batchSize, inHeight: h, inWidth: w, inChannels: c, outHeight, outWidth, padInfo } = info;
  const best = new Float32Array(c);
  const where = new Int32Array(c);
  let o = 0;
  for (let b = 0; b < batchSize; b++) {
    for (let yr = 0; yr < outHeight; yr++) {
      const top = yr * info.strideHeight - padInfo.top;
      const [r0, r1] = [Math.max(0, top), Math.min(h, top + info.effectiveFilterHeight)];
      for (let yc = 0; yc < outWidth; yc++, o += c) {
        const left = yc * info.strideWidth - padInfo.left;
        const [c0, c1] = [Math.max(0, left), Math.min(w, left + info.effectiveFilterWidth)];
        best.fill(-Infinity);
        where.fill(-1);
        for (let r = r0; r < r1; r++) {
          for (let col = c0; col < c1; col++) {
            const p = ((b * h + r) * w + col) * c;
            for (let d = 0; d < c; d++) {
              if (x[p + d] > best[d]) {
                best[d] = x[p + d];
                where[d] = p + d;
              }
            }
          }
        }
        for (let d = 0; d < c; d++) if (where[d] >= 0) dx[where[d]] += dy[o + d];
      }
    }
  }
}

/** Swaps the last two axes. */
function transposeLast2(s: Scope, x: Info): Info {
  const perm = x.shape.map((_, i) => i);
  perm.splice(-2, 2, perm.length - 1, perm.length - 2);
  return s.transpose(x, perm);
}

/**
 * The stock BatchMatMul uses XNNPACK only for batch 1 without transposes; dense layers' gradients
 * transpose an operand and fall into its naive loop, 7x slower than transposing first.
 */
const batchMatMul = scopedKernel((s, inputs, attrs) => {
  const { a, b } = inputs;
  const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
  const single = (t: Info) => t.shape.slice(0, -2).every((d) => d === 1);
  if (!(transposeA || transposeB) || !single(a) || !single(b)) return s.stock('BatchMatMul', inputs, attrs);
  return s.stock('BatchMatMul', {
    a: transposeA ? transposeLast2(s, a) : a,
    b: transposeB ? transposeLast2(s, b) : b,
  }, { transposeA: false, transposeB: false });
});

/**
 * Tiling that only repeats size-1 axes is a broadcast (batchNorm's gradient does it): a
 * broadcasting multiply by ones is 15x faster than the stock Tile.
 */
const tile = scopedKernel((s, inputs, attrs) => {
  const { x } = inputs;
  const { reps } = attrs as unknown as tf.TileAttrs;
  const broadcast = x.dtype === 'float32' && reps.every((r, i) => r === 1 || x.shape[i] === 1);
  if (!broadcast) return s.stock('Tile', inputs, attrs);
  const ones = s.run('Fill', {}, { shape: x.shape.map((d, i) => d * reps[i]), value: 1, dtype: 'float32' });
  return s.run('Multiply', { a: ones, b: x });
});

/** Gradient kernels tfjs-backend-wasm 4.22 lacks: registered only where still missing. */
const MISSING: Record<string, tf.KernelFunc> = {
  Conv2DBackpropFilter: conv2DBackpropFilter,
  DepthwiseConv2dNativeBackpropInput: depthwiseConv2dNativeBackpropInput,
  DepthwiseConv2dNativeBackpropFilter: depthwiseConv2dNativeBackpropFilter,
};

/** Stock kernels replaced: slower (bench/kernels.ts measures it) or wrong. */
const REPLACED: Record<string, tf.KernelFunc> = {
  Conv2DBackpropInput: conv2DBackpropInput,
  MaxPoolGrad: maxPoolGrad,
  BatchMatMul: batchMatMul,
  Tile: tile,
};

/**
 * Registers, for backend 'wasm', the gradient kernels it lacks and the replacements above.
 * Idempotent. Call it before or after tf.setBackend('wasm'): ours need no setup and look up the
 * kernels they use at call time, and a replaced kernel's stock setup stays registered.
 */
export function registerWasmTrainingKernels(): void {
  for (const [kernelName, kernelFunc] of Object.entries(MISSING)) {
    if (!tf.getKernel(kernelName, BACKEND)) tf.registerKernel({ kernelName, backendName: BACKEND, kernelFunc });
  }
  for (const [kernelName, kernelFunc] of Object.entries(REPLACED)) {
    const current = tf.getKernel(kernelName, BACKEND);
    if (current?.kernelFunc === kernelFunc) continue;
    if (current) {
      stockKernels.set(kernelName, current.kernelFunc);
      // registerKernel would overwrite too, but with a warning on the console.
      tf.unregisterKernel(kernelName, BACKEND);
    }
    // The stock setup stays: it binds the wasm functions the stock kernel calls when ours hand back.
    tf.registerKernel({ ...current, kernelName, backendName: BACKEND, kernelFunc });
  }
}

/**
 * The folder of the package's .wasm binaries, resolved from this module so that it still holds
 * when this file is bundled elsewhere (emscripten would otherwise look next to the bundle).
 */
function wasmBinariesDir(): string {
  const entry = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm');
  return path.dirname(entry) + path.sep;
}

/**
 * Registers the training kernels and makes wasm the active backend. Works in the main thread and
 * in worker_threads (where tfjs runs wasm single-threaded, as everywhere under Node).
 */
export async function initWasmBackend(): Promise<void> {
  registerWasmTrainingKernels();
  setWasmPaths(wasmBinariesDir());
  if (!(await tf.setBackend(BACKEND))) throw new Error('the TensorFlow.js wasm backend failed to start');
  await tf.ready();
}
