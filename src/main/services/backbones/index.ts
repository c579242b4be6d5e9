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
} from './extract';
export { findCopy, resolveBackbone, type ResolvedBackbone } from './locate';
export { loadRegistry } from './registry';
export { readTfjsFolder, withFlipAverage, withHead, writeTfjsFolder } from './tfjs-model';
export { readSpeeds } from './speed';
export type { BlockCut, FineTuneSupport } from './blocks';
