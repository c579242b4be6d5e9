import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../src/main/services/onnx/graph-builder';
import { NCHWC_DOMAIN, nchwcBlock } from '../src/main/services/onnx/nchwc';

const [B, C, H, W] = (process.argv[2] ?? '32,128,32,32').split(',').map(Number);
const blk = await nchwcBlock();
console.log('block', blk, 'shape', B, C, H, W);
const opts: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'basic', intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: 'sequential', extra: { session: { 'intra_op.allow_spinning': '0' } } } as never;

async function time(name: string, build: (g: GraphBuilder) => void, feeds: Record<string, ort.Tensor>) {
  const g = new GraphBuilder({ names: 'counter', dedupeConstants: false });
  build(g);
  const s = await ort.InferenceSession.create(g.encode({ opset: 17 }), opts);
  let out: ort.InferenceSession.ReturnType | null = null;
  for (let i = 0; i < 2; i++) out = await s.run(feeds);
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    for (let i = 0; i < 10; i++) out = await s.run(feeds);
    best = Math.min(best, (performance.now() - t) / 10);
  }
  console.log(name.padEnd(40), best.toFixed(2), 'ms');
  return out!;
}
const rnd = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
const x = new ort.Tensor('float32', rnd(B * C * H * W), [B, C, H, W]);
const wt = new ort.Tensor('float32', rnd(C * 9), [C, 1, 3, 3]);
const dz = new ort.Tensor('float32', rnd(B * C * H * W), [B, C, H, W]);

// forward depthwise, plain grouped conv
const a = await time('fwd plain grouped Conv', (g) => {
  const xi = g.input('x', [B, C, H, W]); const wi = g.input('w', [C, 1, 3, 3]);
  g.output('y', g.node('Conv', [xi, wi], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], group: C }), [B, C, H, W]);
}, { x, w: wt });
// forward depthwise, nchwc with reorders; weight blocked [C/b,1,3,3,b]
const b2 = await time('fwd NCHWc depthwise + reorders', (g) => {
  const xi = g.input('x', [B, C, H, W]); const wi = g.input('w', [C, 1, 3, 3]);
  const wb = g.node('Reshape', [g.node('Transpose', [g.node('Reshape', [wi, g.ints([C / blk, blk, 3, 3])])], { perm: [0, 2, 3, 1] }), g.ints([C, 1, 3, 3])]);
  const xr = g.nodeIn(NCHWC_DOMAIN, 'ReorderInput', [xi]);
  const y = g.nodeIn(NCHWC_DOMAIN, 'Conv', [xr, wb], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], group: C });
  g.output('y', g.nodeIn(NCHWC_DOMAIN, 'ReorderOutput', [y], { channels: C }), [B, C, H, W]);
}, { x, w: wt });
const ya = a.y.data as Float32Array, yb = b2.y.data as Float32Array;
let err = 0; for (let i = 0; i < ya.length; i++) err = Math.max(err, Math.abs(ya[i] - yb[i]));
console.log('  max diff', err);

// kernel grad: current (grouped conv, big kernel)
const k1 = await time('dW current grouped Conv', (g) => {
  const xi = g.input('x', [B, C, H, W]); const di = g.input('dz', [B, C, H, W]);
  const xt = g.node('Reshape', [g.node('Transpose', [xi], { perm: [1, 0, 2, 3] }), g.ints([1, -1, H, W])]);
  const dzT = g.node('Transpose', [di], { perm: [1, 0, 2, 3] });
  const dw = g.node('Conv', [xt, dzT], { kernel_shape: [H, W], group: C, pads: [1, 1, 1, 1] });
  g.output('dw', g.node('Reshape', [dw, g.ints([C, 3, 3])]), [C, 3, 3]);
}, { x, dz });
// kernel grad: wide layout, NCHWc depthwise
const S = W + 2;
const k2 = await time('dW wide NCHWc depthwise', (g) => {
  const xi = g.input('x', ['B', C, H, W]); const di = g.input('dz', ['B', C, H, W]);
  const xp = g.node('Pad', [xi, g.ints([0, 0, 1, 1, 0, 0, 1, 1])]); // [B,C,H+2,W+2]
  const xw = g.node('Reshape', [g.node('Transpose', [xp], { perm: [1, 2, 0, 3] }), g.ints([1, C, H + 2, -1])]); // [1,C,H+2,B*S]
  const dp = g.node('Pad', [di, g.ints([0, 0, 0, 0, 0, 0, 0, 2])]); // [B,C,H,S]
  const dt = g.node('Transpose', [dp], { perm: [1, 2, 0, 3] }); // [C,H,B,S]
  const dk = g.node('Reshape', [g.node('Transpose', [g.node('Reshape', [dt, g.ints([C / blk, blk, H, -1])])], { perm: [0, 2, 3, 1] }), g.ints([C, 1, H, -1])]);
  const xr = g.nodeIn(NCHWC_DOMAIN, 'ReorderInput', [xw]);
  const y = g.nodeIn(NCHWC_DOMAIN, 'Conv', [xr, dk], { pads: [0, 0, 0, 2], group: C });
  g.output('dw', g.node('Reshape', [g.nodeIn(NCHWC_DOMAIN, 'ReorderOutput', [y], { channels: C }), g.ints([C, 3, 3])]), [C, 3, 3]);
}, { x, dz });
// kernel grad: wide layout, plain grouped conv (depthwise)
const k3 = await time('dW wide plain depthwise', (g) => {
  const xi = g.input('x', [B, C, H, W]); const di = g.input('dz', [B, C, H, W]);
  const xp = g.node('Pad', [xi, g.ints([0, 0, 1, 1, 0, 0, 1, 1])]);
  const xw = g.node('Reshape', [g.node('Transpose', [xp], { perm: [1, 2, 0, 3] }), g.ints([1, C, H + 2, -1])]);
  const dp = g.node('Pad', [di, g.ints([0, 0, 0, 0, 0, 0, 0, 2])]);
  const dk = g.node('Reshape', [g.node('Transpose', [dp], { perm: [1, 2, 0, 3] }), g.ints([C, 1, H, -1])]);
  const y = g.node('Conv', [xw, dk], { kernel_shape: [H, B * S], pads: [0, 0, 0, 2], group: C });
  g.output('dw', g.node('Reshape', [y, g.ints([C, 3, 3])]), [C, 3, 3]);
}, { x, dz });
for (const [n, k] of [['nchwc', k2], ['plain wide', k3]] as const) {
  const p = k1.dw.data as Float32Array, q = k.dw.data as Float32Array;
  let e = 0, m = 0; for (let i = 0; i < p.length; i++) { e = Math.max(e, Math.abs(p[i] - q[i])); m = Math.max(m, Math.abs(p[i])); }
  console.log(`  ${n} max diff`, e, 'of', m);
}
