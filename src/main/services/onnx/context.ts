// What every layer converter works with: the graph being built, the model's weights, and values
// that know their layout. Keras images are NHWC; ONNX convolutions and pools want NCHW. A 4-D
// value is moved to NCHW when a layer needs it there and back to NHWC only where Keras order
// matters (Flatten, Reshape, Dense on images, the output), each move made once per value.

import { LoupeError } from '../../../shared/errors';
import type { GraphBuilder } from './graph-builder';
import { NCHW_TO_NHWC, NHWC_TO_NCHW } from './layout';
import { findWeight, requireWeight, type LayerSpec, type Weight } from './layers-model';

/** `keras`: the tensor is in Keras order (NHWC for images); `nchw`: a 4-D tensor moved to NCHW. */
export type Layout = 'keras' | 'nchw';

export interface Value {
  /** The ONNX tensor name. */
  name: string;
  /** The Keras shape without the batch dimension ([H, W, C] for images), whatever the layout. */
  shape: number[];
  layout: Layout;
}

export function unsupported(layer: LayerSpec, what: string): LoupeError {
  return new LoupeError('NOT_SUPPORTED', `Layer "${layer.name}" (${layer.className}) ${what}, which the ONNX export does not support.`);
}

export class ConvertContext {
  readonly #moved = new Map<string, Value>();

  constructor(
    readonly graph: GraphBuilder,
    readonly weights: Map<string, Weight>,
  ) {}

  /** The value as an NCHW tensor (images only). */
  channelsFirst(v: Value, layer: LayerSpec): Value {
    if (v.shape.length !== 3) throw unsupported(layer, `gets a ${v.shape.length + 1}-D input where it needs an image (4-D)`);
    if (v.layout === 'nchw') return v;
    return this.#move(v, 'nchw', NHWC_TO_NCHW);
  }

  /** The value in Keras order. */
  keras(v: Value): Value {
    return v.layout === 'keras' ? v : this.#move(v, 'keras', NCHW_TO_NHWC);
  }

  #move(v: Value, layout: Layout, perm: number[]): Value {
    const key = `${v.name}>${layout}`;
    let moved = this.#moved.get(key);
    if (!moved) {
      moved = { name: this.graph.node('Transpose', [v.name], { perm }), shape: v.shape, layout };
      this.#moved.set(key, moved);
      // Moving back finds the original instead of transposing twice.
      this.#moved.set(`${moved.name}>${v.layout}`, v);
    }
    return moved;
  }

  /** A weight of a layer (`kernel`, `bias`, `gamma`, ...), found by TF.js's `<layer>/<weight>` name. */
  weight(layer: LayerSpec, name: string): Weight {
    return requireWeight(this.weights, layer.name, name);
  }

  optionalWeight(layer: LayerSpec, name: string): Weight | null {
    return findWeight(this.weights, layer.name, name);
  }

  /** Applies a Keras activation by name (`linear` adds nothing). */
  activation(v: Value, activation: unknown, layer: LayerSpec): Value {
    const g = this.graph;
    const name = typeof activation === 'string' ? activation : 'linear';
    const base = `${layer.name}/${name}`;
    const same = (out: string): Value => ({ ...v, name: out });
    switch (name) {
      case 'linear':
        return v;
      case 'relu':
        return same(g.node('Relu', [v.name], {}, base));
      case 'relu6':
        return same(g.node('Clip', [v.name, g.scalar(0, `${base}/min`), g.scalar(6, `${base}/max`)], {}, base));
      case 'sigmoid':
        return same(g.node('Sigmoid', [v.name], {}, base));
      case 'tanh':
        return same(g.node('Tanh', [v.name], {}, base));
      case 'softmax':
        // Keras takes the softmax over the last (channel) axis: axis 1 of an NCHW tensor.
        return same(g.node('Softmax', [v.name], { axis: v.layout === 'nchw' ? 1 : -1 }, base));
      case 'elu':
        return same(g.node('Elu', [v.name], { alpha: { float: 1 } }, base));
      case 'selu':
        return same(g.node('Selu', [v.name], {}, base));
      case 'softplus':
        return same(g.node('Softplus', [v.name], {}, base));
      case 'softsign':
        return same(g.node('Softsign', [v.name], {}, base));
      case 'hard_sigmoid':
      case 'hardSigmoid':
        return same(g.node('HardSigmoid', [v.name], { alpha: { float: 0.2 }, beta: { float: 0.5 } }, base));
      case 'swish': {
        const s = g.node('Sigmoid', [v.name]);
        return same(g.node('Mul', [v.name, s], {}, base));
      }
      default:
        throw unsupported(layer, `uses the activation "${name}"`);
    }
  }
}

