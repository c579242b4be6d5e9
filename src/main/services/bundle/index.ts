// What other folders may use of the training bundle: making one, and bringing its model home.

export { exportTraining, type ExportTrainingResult } from './export-training';
export { importRun, PYTORCH_BACKEND, type ImportRunResult } from './import-run';
