// What other service folders may use of export (the lint rule `loupe/layers` holds them to this
// file): an exported folder's file names and a run's model as ONNX with Loupe's metadata.

export { LABELS_FILE, ONNX_FILE, PREPROCESS_FILE, TFJS_DIR, parseLabels } from './files';
export { META_LABELS, META_PREPROCESS, modelStamp, runModel, runToOnnx } from './run-model';
export { compareProbabilities, parityProblem, spread, PARITY_IMAGES } from './parity';
