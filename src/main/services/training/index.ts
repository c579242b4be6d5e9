// What other service folders may use of training (the lint rule `loupe/layers` holds them to this
// file): the runs it recorded, replicas for a label check's folds, and a transfer run's features.

export { createRun, finishRun, listRuns, predictionWriter, recordEpoch, runDetails, type RunClass } from './records';
export type { ReplicaInput } from './protocol';
export { planTraining, trainingBackends, trainReplicas } from './train';
export { backboneOf, prepareFeatures, transferFeaturesOnnx } from './transfer';
export { isFineTuned } from './finetune';
export { IMBALANCE_SHARE, MAX_REPEAT } from './balance';
