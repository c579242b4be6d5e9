// What other service folders may use of backbones (the lint rule `loupe/layers` holds them to this
// file): finding a backbone, its feature model, and the project's cached features.

export {
  FeatureExtractor,
  backboneFeatureFiles,
  backboneOnnx,
  calibrateExtraction,
  ensureFeatures,
  featureDir,
  flipKey,
  measuredRate,
  type FeaturePack,
  variantKey,
} from './extract';
export { cachedFeatureIndex, cachedFeatures, type CachedFeatures } from './cached';
export { findCopy, resolveBackbone, type ResolvedBackbone } from './locate';
export { loadRegistry } from './registry';
export { CUT_INPUT, outputLayerOf, partAfter, readTfjsFolder, withFlipAverage, withHead, withWeightsFrom, writeTfjsFolder, type LayersFiles } from './tfjs-model';
export { fineTuneSupport, type BlockCut, type FineTuneSupport } from './blocks';
export { readSpeeds } from './speed';
