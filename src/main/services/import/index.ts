// The import service: what the API handlers, the CLI and the sample project use.

export { runImport, DEFAULT_BATCH, DEFAULT_DEPTH, type ImportProgress, type RunOptions } from './pipeline';
export {
  createImport,
  deleteImport,
  discardImport,
  findResumable,
  importReport,
  pendingImports,
  pruneUploads,
  recoverImports,
  requirePending,
  type ImportSource,
} from './records';
export { DEFAULT_LIMITS, type ImageLimits } from './limits';
