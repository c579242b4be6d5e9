// TensorFlow.js layers model -> ONNX graph (opset 13), from the trained weights.
//
// The contract of the exported graph: input `pixels`, float32 [N, H, W, C] holding 0..255 (what
// an image decoder gives), output `probabilities`, float32 [N, K]. The model's own input scaling
// (x * scale + offset; 1/255 for Loupe's runs) and the move to NCHW are inside the graph, so a
// caller only decodes, resizes and feeds pixels. The layer graph is walked from the output
// back through each call's inputs, so Sequential and functional models (shared layers too)
// convert the same way.

import { LoupeError } from '../../../shared/errors';
import { ConvertContext, unsupported, type Value } from './context';
import { GraphBuilder } from './graph-builder';
import { computeCall, type LayersGraph } from './layers-model';
import { LAYER_CONVERTERS } from './layers';

/** The widest runtime support (onnxruntime, OpenCV, TensorRT, browsers). */
export const OPSET = 13;
export const INPUT_NAME = 'pixels';
export const OUTPUT_NAME = 'probabilities';

export interface ConvertOptions {
  /** What the model expects from raw pixels: x * scale + offset. Null: feed the model's own input. */
  preprocess: { scale: number; offset: number } | null;
  inputName?: string;
  outputName?: string;
  producerVersion: string;
  docString?: string;
  /** Key/value metadata stored in the model (labels, preprocessing). */
  metadata?: Record<string, string>;
}

export interface Converted {
  bytes: Uint8Array;
  /** Input shape without the batch ([H, W, C] for images) and output shape without the batch. */
  inputShape: number[];
  outputShape: number[];
  /** Layer classes converted, with counts (for the model card and tests). */
  layers: Record<string, number>;
}

export function convertToOnnx(model: LayersGraph, options: ConvertOptions): Converted {
  // Readable names (layer names become tensor names) and no shared constants: each layer's
  // weights and constants stay its own in tools that show the graph.
  const g = new GraphBuilder({ name: model.name, names: 'readable', dedupeConstants: false });
  const inputName = g.input(options.inputName ?? INPUT_NAME, ['N', ...model.input.shape]);
  const outputName = g.reserve(options.outputName ?? OUTPUT_NAME);
  const ctx = new ConvertContext(g, model.weights);

  let input: Value = { name: inputName, shape: model.input.shape, layout: 'keras' };
  if (options.preprocess) {
    const { scale, offset } = options.preprocess;
    if (scale !== 1) input = { ...input, name: g.node('Mul', [input.name, g.scalar(scale, 'preprocess/scale')], {}, 'preprocess/scaled') };
    if (offset !== 0) input = { ...input, name: g.node('Add', [input.name, g.scalar(offset, 'preprocess/offset')], {}, 'preprocess/shifted') };
  }

  const counts: Record<string, number> = {};
  const values = new Map<string, Value>([[model.input.call, input]]);
  const result = ctx.keras(
    computeCall(model.calls, values, model.output, ({ layer, inputs: from }, inputs) => {
      if (from.length === 0) throw unsupported(layer, 'is a second model input');
      const convert = LAYER_CONVERTERS[layer.className];
      if (!convert) {
        const nested = layer.className === 'Sequential' || layer.className === 'Model' || layer.className === 'Functional';
        throw new LoupeError(
          'NOT_SUPPORTED',
          nested
            ? `Layer "${layer.name}" is a nested model (${layer.className}); the ONNX export needs one flat model.`
            : `The ONNX export does not support ${layer.className} layers (layer "${layer.name}").`,
        );
      }
      const out = convert(ctx, layer, inputs);
      counts[layer.className] = (counts[layer.className] ?? 0) + 1;
      return out;
    }),
  );
  g.output(outputName, result.name, ['N', ...result.shape]);
  const bytes = g.encode({
    opset: OPSET,
    producerVersion: options.producerVersion,
    docString: options.docString,
    metadata: options.metadata,
  });
  return { bytes, inputShape: model.input.shape, outputShape: result.shape, layers: counts };
}
