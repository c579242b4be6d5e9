// Plain data types that cross the API boundary. No behaviour, no imports.

export type Split = 'train' | 'val' | 'test';
export const SPLITS: readonly Split[] = ['train', 'val', 'test'];

export interface ClassCount {
  id: number;
  name: string;
  color: string;
  position: number;
  count: number;
}

/** What `loupe status --json` prints and the frame shows. Other tools script against these names. */
export interface ProjectSummary {
  path: string;
  name: string;
  /** Opaque key naming this project in media URLs (`media/<key>/thumb/<sha256>`). */
  key: string;
  schemaVersion: number;
  readOnly: boolean;
  /** Why it is read-only ("it is on a read-only disk"), or null. */
  readOnlyReason: string | null;
  images: number;
  labeled: number;
  unlabeled: number;
  classes: ClassCount[];
  splits: Record<Split, number>;
}

export interface RecentProject {
  path: string;
  name: string;
  openedAt: number;
  /** False when the folder is gone or no longer a project; the start screen greys it out. */
  available: boolean;
}

export type HostMode = 'desktop' | 'browser';

export interface HostInfo {
  mode: HostMode;
  version: string;
  platform: string;
  homeDir: string;
  /** True where the host can show native open/save dialogs (the desktop window). */
  nativeDialogs: boolean;
  /** The project the host opened for this session at start (`loupe serve --project`), if any. */
  initialProject: string | null;
  /** Differs for every run of the serving process: a page returns to its last project only in the same run. */
  instanceId: string;
}

export type PathKind = 'openDirectory' | 'openFile' | 'openFiles' | 'createDirectory';

export interface DirectoryEntry {
  name: string;
  kind: 'directory' | 'file';
  /** A folder that holds a project.db: opening it opens the project. */
  isProject: boolean;
}

export interface DirectoryListing {
  path: string;
  parent: string | null;
  entries: DirectoryEntry[];
  /** Folders left out because their names start with a dot (0 when they were asked for). */
  hiddenFolders: number;
  /** The Loupe project this folder is or lies inside, or null. */
  project: string | null;
}

/** What a path on the machine Loupe runs on is, for a picker deciding whether it can be used. */
export interface PathInfo {
  path: string;
  exists: boolean;
  isDirectory: boolean;
  /** A folder holding a project.db. */
  isProject: boolean;
  /** A folder with nothing in it (false where it does not exist). */
  empty: boolean;
  /** The Loupe project this path lies inside (not the path itself), or null. */
  insideProject: string | null;
}

/** What a folder picker is for: each starts where the last one for the same purpose ended. */
export const FOLDER_PURPOSES = ['projects', 'import', 'export', 'predict', 'model'] as const;
export type FolderPurpose = (typeof FOLDER_PURPOSES)[number];

export type MenuCommand = 'newProject' | 'openProject' | 'closeProject' | 'undo' | 'redo';

// Long work (import, training, export, feature extraction) runs as jobs: it reports progress,
// can be cancelled, and ends with a result or an error. Each kind names its result (and its live
// detail) here, so a job narrowed on `kind` has a typed result and no consumer casts one.
export interface JobResults {
  import: ImportReport;
  train: TrainResult;
  export: ExportResult;
  features: FeatureExtraction;
  suggest: SuggestResult;
  labelErrors: LabelCheckInfo;
  backbone: BackboneDownload;
  backboneSpeed: BackboneSpeedResult;
  doctor: DoctorReport;
  map: MapLayoutResult;
}
export type JobKind = keyof JobResults;
export type JobStatus = 'running' | 'completed' | 'cancelled' | 'failed';

/** Kind-specific live data of a running job (JobProgress.detail); kinds not named here have none. */
export interface JobDetails {
  import: ImportJobDetail;
  train: TrainProgress;
}
export type JobDetail<K extends JobKind> = K extends keyof JobDetails ? JobDetails[K] : never;

/** A job of one kind as it runs (JobProgress is the union over every kind). */
export interface JobProgressOf<K extends JobKind> {
  jobId: string;
  kind: K;
  projectPath: string;
  /** What the job is doing now, for people ("Importing", "Epoch 3/20"). */
  phase: string;
  done: number;
  total: number | null;
  /** Items per second over the recent past; null until there is a measurement. */
  ratePerSecond: number | null;
  etaSeconds: number | null;
  /** Kind-specific live data (e.g. training curves); small. */
  detail?: JobDetail<K>;
}

/** A job of one kind with its outcome (JobInfo is the union over every kind). */
export interface JobInfoOf<K extends JobKind> extends JobProgressOf<K> {
  status: JobStatus;
  startedAt: number;
  finishedAt: number | null;
  error: { code: string; message: string } | null;
  /** The kind's outcome (e.g. the import report), once completed or cancelled; null before, or when it failed. */
  result: JobResults[K] | null;
}

/** Progress of a job of kind K (any kind by default): narrowing on `kind` types its detail. */
export type JobProgress<K extends JobKind = JobKind> = { [P in K]: JobProgressOf<P> }[K];
/** A job of kind K (any kind by default): narrowing on `kind` types its result. */
export type JobInfo<K extends JobKind = JobKind> = { [P in K]: JobInfoOf<P> }[K];

/** Live counts of an `import` job (JobProgress.detail). */
export interface ImportJobDetail {
  imported: number;
  duplicates: number;
  skipped: number;
}

/** The `features` job's result: backbone features extracted and cached. */
export interface FeatureExtraction {
  images: number;
  failed: number;
  seconds: number;
}

/** A job running in a project the serving process has open, seen from a page with no project open. */
export interface RunningJob {
  jobId: string;
  kind: JobKind;
  projectPath: string;
  projectName: string;
  phase: string;
  done: number;
  total: number | null;
  ratePerSecond: number | null;
  etaSeconds: number | null;
  startedAt: number;
}

// Labeling.
/**
 * Who wrote a label: a person, the import, or a model: an accepted suggestion ('suggestion') or an
 * accepted label-check finding ('check'). Scores say how many model-written labels they count.
 */
export type LabelSource = 'user' | 'import' | 'suggestion' | 'check';
export const MODEL_LABEL_SOURCES: readonly LabelSource[] = ['suggestion', 'check'];

/**
 * A confidence as the whole percent people see (0.896 is 90). Bulk accepts compare on it, so a
 * suggestion shown as 90% is accepted at "90% or more".
 */
export const wholePercent = (x: number): number => Math.round(x * 100 + 1e-9);

/** Which images a gallery shows. All fields narrow the set; none means every image. */
export interface ImageFilter {
  split?: Split;
  /** Images labeled with this class. */
  classId?: number;
  /** Only images without a label. */
  unlabeled?: boolean;
  /** Only images whose label a model wrote (source 'suggestion' or 'check'). */
  modelLabeled?: boolean;
  /** Case-insensitive substring of the original file name. */
  search?: string;
}

export interface ImageItem {
  id: number;
  hash: string;
  name: string;
  split: Split;
  width: number;
  height: number;
  classId: number | null;
  labelSource: LabelSource | null;
}

export interface ImageDetails extends ImageItem {
  format: string;
  bytes: number;
  channels: number;
  sourcePath: string | null;
  addedAt: number;
  splitSource: 'auto' | 'folder' | 'user';
}

export interface UndoState {
  undo: string | null;
  redo: string | null;
}

/** What a change did, so windows can update without refetching everything. */
export interface ImagesChanged {
  /** The images whose label, split or presence changed; null when it may be any. */
  imageIds: number[] | null;
  undo: UndoState;
  /** Set by undo and redo only: which action they undid or redid (its summary), to say so. */
  history?: { direction: 'undo' | 'redo'; summary: string };
}

// Import: folders (class folders, split folders, unlabeled), single files, CSVs of `path,label`,
// and files dropped onto the window (streamed uploads in browser mode). One import is a job whose
// result is its report; an interrupted or cancelled import can be resumed.
export type ImportStatus = 'running' | 'completed' | 'cancelled' | 'interrupted' | 'failed' | 'discarded';

/** A source file (or folder, or CSV row) that was not imported, and why, for people. */
export interface ImportSkip {
  path: string;
  reason: string;
}

/** A source file whose content is already in the project: one image, reported once. */
export interface ImportDuplicate {
  path: string;
  /** The source path (or name) of the image already in the project. */
  existing: string;
}

/** The outcome of an import: the job result, `loupe import --json`, and `importReport`. */
export interface ImportReport {
  importId: number;
  status: ImportStatus;
  /** What was imported, as given (paths, or "dropped files"). */
  sources: string[];
  /** Source files found (images, bad files and refused CSV rows). */
  total: number;
  imported: number;
  duplicates: number;
  skippedTotal: number;
  /** Up to `REPORT_LIST_LIMIT` entries each; the counts above are complete. */
  skipped: ImportSkip[];
  duplicateFiles: ImportDuplicate[];
  /** Class names this import created (from folder names or CSV labels). */
  createdClasses: string[];
  /** Where the images this import added went. */
  splits: Record<Split, number>;
  /** Working time, summed over resumed runs. */
  seconds: number;
  imagesPerSecond: number | null;
}

export const REPORT_LIST_LIMIT = 1000;

/** An import that stopped before the end (cancelled, killed, failed) and can be resumed. */
export interface PendingImport {
  importId: number;
  status: ImportStatus;
  sources: string[];
  createdAt: number;
  updatedAt: number;
  /** Source files with an outcome so far, and the total from the last scan. */
  done: number;
  total: number | null;
  error: string | null;
}

export interface ImportStarted {
  jobId: string;
  importId: number;
}

/** Browser mode: where to stream dropped files (`POST <url>?path=<relative path>`, body = bytes). */
export interface UploadInfo {
  uploadId: string;
  url: string;
  maxFileBytes: number;
}

export type SampleKind = 'digits';

export interface SampleCreated {
  project: ProjectSummary;
  jobId: string;
  importId: number;
}

// Training. A run trains one architecture on a snapshot of the labeled images, on one backend,
// and records every epoch; the plan says what one click would do and why.
export type BackendName = 'tensorflow' | 'webgpu' | 'onnxruntime' | 'wasm' | 'cpu';
export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow', 'webgpu', 'onnxruntime', 'wasm', 'cpu'];
/** What trained a run: one of Loupe's backends, or PyTorch outside Loupe (a run brought home by `loupe import-run`). */
export type RunBackendName = BackendName | 'pytorch';
export type ArchName = 'mlp' | 'lenet' | 'cnn-small' | 'keras-cifar' | 'resnet-small' | 'dense-head';
/** The architectures trained from scratch on pixels (a `dense-head` trains on a backbone's features). */
export const ARCH_NAMES: readonly ArchName[] = ['mlp', 'lenet', 'cnn-small', 'keras-cifar', 'resnet-small'];
/** What people read about each architecture (the builders live in the main process). */
export const ARCH_INFO: Record<ArchName, { title: string; description: string }> = {
  mlp: { title: 'MLP', description: 'A multilayer perceptron (dense 128, dropout 0.2): fast, for tiny or very simple images.' },
  lenet: { title: 'LeNet', description: 'LeNet-5: two 5x5 convolutions and three dense layers; the classic digit recogniser.' },
  'cnn-small': {
    title: 'Small CNN',
    description: 'Three 3x3 convolution blocks (32-64-128 maps) with batch normalisation and dense 128: accurate and cheap on small images.',
  },
  'keras-cifar': { title: 'Keras CIFAR CNN', description: 'The Keras CIFAR-10 tutorial CNN: four 3x3 convolutions, dense 512, dropout.' },
  'resnet-small': {
    title: 'ResNet-8',
    description: 'A small residual network (32-64-128 maps, batch normalisation): the strongest from-scratch choice for colour images.',
  },
  'dense-head': {
    title: 'Dense head',
    description: "Dense 1024 with dropout, trained on a pretrained backbone's features (transfer learning).",
  },
};
export type OptimizerName = 'adam' | 'sgd';
export type RunStatus = 'running' | 'completed' | 'cancelled' | 'failed' | 'interrupted';

export interface BackendInfo {
  name: BackendName;
  available: boolean;
  /** Why it is or is not usable here, for people. */
  reason: string;
  /** The device it would run on (GPU adapter, CPU model). */
  device: string;
}

export interface Augmentation {
  /** Mirror left-right at random (never for digits or text). */
  flip: boolean;
  /** Random translation by up to this many pixels (padding then cropping). */
  shift: number;
  /** Random brightness change of up to ± this share of the range. */
  brightness: number;
}

export type LrSchedule =
  | { kind: 'constant' }
  | { kind: 'step'; stepSize: number; gamma: number }
  /**
   * `warmup`: the fraction of the run's steps over which the rate first rises linearly from zero
   * (fine-tuning a pretrained backbone; from scratch, one click's one-cycle schedule).
   */
  | { kind: 'cosine'; warmup?: number };

/** Every choice a run makes; one click fills it in, Advanced settings override any part. */
export interface TrainConfig {
  arch: ArchName;
  width: number;
  height: number;
  channels: 1 | 3;
  epochs: number;
  batchSize: number;
  optimizer: OptimizerName;
  learningRate: number;
  /** SGD only. */
  momentum: number;
  weightDecay: number;
  schedule: LrSchedule;
  augmentation: Augmentation;
  /** Stop when validation accuracy has not improved for this many epochs; null = never. */
  patience: number | null;
  /**
   * Early stopping ends the run no sooner than this epoch (1-based), once a one-cycle schedule
   * has annealed; absent (runs planned before it, other schedules): from the first epoch.
   */
  patienceFrom?: number;
  /** Keep the weights of the epoch with the best validation accuracy. */
  restoreBest: boolean;
  seed: number;
  backend: BackendName | 'auto';
  /** Data-parallel replicas on CPU backends (one per core). */
  workers: number;
  /** Transfer learning: the frozen backbone whose features the head trains on; null (or absent, in runs recorded before transfer learning) when trained from scratch. */
  backbone?: TransferConfig | null;
  /** Balanced sampling: how many times each class's training images appear in an epoch (by class index); absent when the classes are balanced enough. */
  balance?: number[];
  /**
   * From scratch: predictions average each image and its left-right mirror image (test-time
   * augmentation), as for a run that trained on flips; the saved model holds both passes, and
   * validation and test are scored the same way. Transfer runs keep theirs in
   * `backbone.flipAverage`. Absent in runs made before it, and where the run trains without flips.
   */
  flipAverage?: boolean;
  /**
   * One click's wall-time budget for the whole run (preparing the images and the final test
   * included): after each epoch the run fits its epochs to the speed it shows, between
   * `minEpochs` and `maxEpochs`. The first epoch sets them (more or fewer than planned); later
   * ones only cut them, when the machine slows. Absent when the epochs were set in Advanced
   * settings, on small data, and in runs made before it.
   */
  timeBudget?: TimeBudget;
}

export interface TimeBudget {
  seconds: number;
  minEpochs: number;
  maxEpochs: number;
}

export type TrainOverrides = Partial<Omit<TrainConfig, 'augmentation' | 'schedule' | 'backbone' | 'patienceFrom' | 'balance' | 'flipAverage' | 'timeBudget'>> & {
  /** A backbone's name or a path to one (forces transfer learning), or null for training from scratch. */
  backbone?: string | null;
  /** How much of the backbone a transfer run trains (Advanced settings); one click decides otherwise. */
  fineTune?: FineTuneMode;
  augmentation?: Partial<Augmentation>;
  /** stepSize and gamma apply to 'step' (defaults: a third of the epochs, 0.1). */
  schedule?: { kind: LrSchedule['kind']; stepSize?: number; gamma?: number };
};

export interface TrainDataStats {
  classes: { id: number; name: string; train: number; val: number; test: number }[];
  train: number;
  val: number;
  test: number;
  /** Labeled images left out: their class has no training images. */
  excluded: number;
  /** Training images this run holds out for validation, because the project has no val split. */
  heldOut: number;
  medianWidth: number;
  medianHeight: number;
  greyscale: boolean;
}

export interface TrainPlan {
  config: TrainConfig;
  backend: BackendInfo;
  data: TrainDataStats;
  /** Estimated wall time of the whole run. */
  estimatedSeconds: number;
  /**
   * The estimate by step: preparing the data (decoding images, or extracting features) and
   * training; the progress's time left starts from these until each step has measured itself.
   */
  estimate?: { prepareSeconds: number; trainSeconds: number };
  /** Why each choice was made, one sentence each. */
  explanation: string[];
  /** Why the run cannot start as planned (e.g. fewer than two classes); null when it can. */
  blocker: string | null;
  /** Transfer plans: how much of the backbone trains (config.backbone.fineTune) and why, one sentence. */
  fineTuneWhy?: string;
}

export interface EpochMetrics {
  epoch: number;
  trainLoss: number | null;
  trainAccuracy: number | null;
  valLoss: number | null;
  valAccuracy: number | null;
  learningRate: number | null;
  seconds: number;
  imagesPerSecond: number;
}

/** Live data of a `train` job (JobProgress.detail). */
export interface TrainProgress {
  runId: number;
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  trainLoss: number | null;
  trainAccuracy: number | null;
  imagesPerSecond: number | null;
  history: EpochMetrics[];
}

/** Which epoch's weights a run kept as its model, and why. */
export interface KeptEpoch {
  epoch: number;
  /** 'best': the epoch with the best validation accuracy (training accuracy without validation images); 'last': the last epoch trained. */
  rule: 'best' | 'last';
  /** Why, for people: "fewer than 1,000 validation images". */
  why: string;
}

export interface RunSummary {
  id: number;
  status: RunStatus;
  arch: ArchName;
  backend: RunBackendName;
  device: string;
  seed: number;
  createdAt: number;
  finishedAt: number | null;
  seconds: number | null;
  imagesPerSecond: number | null;
  /** Epochs finished so far (fewer than planned when stopped early or cancelled). */
  epochs: number;
  plannedEpochs: number;
  bestEpoch: number | null;
  valAccuracy: number | null;
  testAccuracy: number | null;
  error: string | null;
  /** The completed run with the best validation accuracy. */
  best: boolean;
  /** The backbone of a transfer-learning run; null when trained from scratch. */
  backbone: string | null;
  /** The epoch whose weights the model holds (what evaluation, export and the scores use); null without a model. */
  kept: KeptEpoch | null;
  /** Of `seconds` (the run's whole wall time): preparing the data, i.e. feature extraction or decoding; null for runs recorded before it was measured. */
  prepareSeconds: number | null;
}

export interface RunDetails extends RunSummary {
  backendReason: string;
  config: TrainConfig;
  plan: TrainPlan | null;
  classes: { id: number; name: string }[];
  history: EpochMetrics[];
  /** Images per split in the run's data snapshot. */
  splits: Record<Split, number>;
}

export interface TrainStarted {
  jobId: string;
  runId: number;
}

/** `loupe train --json` and the `train` job's result. */
export interface TrainResult {
  runId: number;
  status: RunStatus;
  arch: ArchName;
  backend: RunBackendName;
  device: string;
  epochs: number;
  bestEpoch: number | null;
  valAccuracy: number | null;
  testAccuracy: number | null;
  /** The run's whole wall time: planning, preparing the data (feature extraction or decoding) and training. */
  seconds: number;
  /** Of `seconds`: preparing the data (feature extraction, or decoding images into the pixel cache). */
  prepareSeconds: number;
  /** Of `seconds`: training, evaluating and saving the model. */
  trainSeconds: number;
  /** Training images per second of the training loop itself. */
  imagesPerSecond: number | null;
  /** The backbone's name for a transfer-learning run; null when trained from scratch. */
  backbone: string | null;
  /** The epoch whose weights the model holds, and why (`bestEpoch` is the best validation epoch, kept or not). */
  kept: KeptEpoch | null;
}

// Evaluation, model-assisted labeling and label checks. The truth is each image's current label,
// so fixing a label updates the evaluation at once (a run's own snapshot stays with the run).
export type EvalSplit = 'val' | 'test';
export type ReviewStatus = 'pending' | 'accepted' | 'dismissed';

export interface ClassMetrics {
  classId: number;
  label: string;
  precision: number;
  recall: number;
  f1: number;
  /** Images of this true class. */
  support: number;
  /** Images predicted as this class. */
  predicted: number;
}

export interface ConfidenceBin {
  from: number;
  to: number;
  correct: number;
  wrong: number;
}

export interface CoveragePoint {
  threshold: number;
  /** Images the model would answer: confidence at or above the threshold. */
  answered: number;
  coverage: number;
  /** Accuracy on the answered images; null when none. */
  accuracy: number | null;
}

/** `evaluateRun` and `loupe eval --json`. Scripts may rely on these names. */
export interface Evaluation {
  runId: number;
  split: EvalSplit;
  /** Images evaluated. */
  images: number;
  /** Null when no image was evaluated (an empty split). */
  accuracy: number | null;
  /** Mean F1 over every class of the run; null when no image was evaluated. */
  macroF1: number | null;
  /** Why no image could be scored, for people; null when some were. */
  unscored: string | null;
  /** The run's classes, in its order: the rows and columns of `confusion`. */
  labels: string[];
  classIds: number[];
  perClass: ClassMetrics[];
  /** confusion[t][p]: images of true class t predicted as p. */
  confusion: number[][];
  /** Top-class confidence in 20 bins. */
  histogram: ConfidenceBin[];
  /** Accuracy against coverage for thresholds 0, 0.01, ..., 1. */
  coverage: CoveragePoint[];
  /** Evaluated images whose label changed since the run. */
  relabeled: number;
  /** Images of the split left out: removed, unlabeled, or now in a class the run does not know. */
  excluded: number;
  /** Predictions stored per split. */
  available: Record<EvalSplit, number>;
  /** Evaluated images whose current label a model wrote (an accepted suggestion or label-check finding): counted in the scores above. */
  modelLabeled: number;
  /** Of those, labeled so after the run trained. */
  modelLabeledSinceRun: number;
  /**
   * The scores on labels no model wrote: an image a model relabeled since the run trained is
   * scored against its label in the run's snapshot; one a model labeled before is left out.
   * Equal to the above when modelLabeled is 0.
   */
  independent: IndependentScore;
}

/** Scores on labels no model wrote (see Evaluation.independent). */
export interface IndependentScore {
  images: number;
  /** Null when no such image is left. */
  accuracy: number | null;
  macroF1: number | null;
}

/**
 * Which evaluated images a gallery shows. mode all: every image, worst (highest loss) first;
 * misclassified: the wrong ones by loss ("top losses"); leastConfident: the correct ones, least
 * confident first. The class ids narrow any mode (both: one confusion-matrix cell).
 */
export interface EvaluationFilter {
  mode: 'all' | 'misclassified' | 'leastConfident';
  trueClassId?: number;
  predictedClassId?: number;
}

/** The images of an evaluation filter in order, with what the model predicted for each. */
export interface EvaluationImages {
  imageIds: number[];
  predictedClassIds: number[];
  confidences: number[];
}

export interface ComparedImage {
  imageId: number;
  trueClassId: number;
  a: { classId: number; confidence: number };
  b: { classId: number; confidence: number };
}

/** Two runs on the images both evaluated in a split. */
export interface RunComparison {
  split: EvalSplit;
  images: number;
  /** `independent`: the run's scores without the images of `modelLabeled`. */
  a: { runId: number; accuracy: number; macroF1: number; independent: IndependentScore };
  b: { runId: number; accuracy: number; macroF1: number; independent: IndependentScore };
  /** Compared images whose current label a model wrote: counted in accuracy and macroF1, not in independent (see Evaluation.independent). */
  modelLabeled: number;
  perClass: {
    classId: number;
    label: string;
    support: number;
    a: { precision: number; recall: number; f1: number };
    b: { precision: number; recall: number; f1: number };
  }[];
  /** Images run A gets right and run B wrong, and the other way round. */
  aOnlyCorrect: ComparedImage[];
  bOnlyCorrect: ComparedImage[];
}

/** Pending suggestions for the unlabeled images (parallel arrays), from run `runId`. */
export interface SuggestionList {
  runId: number | null;
  imageIds: number[];
  classIds: number[];
  confidences: number[];
  /** Each image's split: a bulk accept leaves validation and test images out unless asked. */
  splits: Split[];
}

export interface SuggestStarted {
  jobId: string;
  runId: number;
}

/** The `suggest` job's result and `loupe suggest --json`. */
export interface SuggestResult {
  runId: number;
  /** Unlabeled images that got a suggestion. */
  images: number;
  /** Unlabeled images that could not be read. */
  failed: number;
  classes: { classId: number; label: string; count: number }[];
  seconds: number;
  imagesPerSecond: number | null;
}

/** What accepting or dismissing did. */
export interface ReviewResult extends ImagesChanged {
  changed: number;
}

export interface LabelCheckInfo {
  id: number;
  runId: number;
  folds: number;
  /** Epochs each fold model trained. */
  epochs: number;
  images: number;
  flagged: number;
  seconds: number;
  createdAt: number;
  /** Findings not shown: the judging model is not precise enough on the class, or the margin is small. */
  heldBack: number;
  /** How far to trust the findings, per kind of judge (fold models on train, the run on val/test); empty for a check made before Loupe measured it. */
  reliability: LabelCheckGroup[];
  /** The reliability in one or two sentences, for people (the view and the CLI). */
  verdict: string;
}

/** How reliable a label check's judge was on the images it judged. */
export interface LabelCheckGroup {
  /** fold: models trained without each image (train split); run: the run itself (val, test). */
  source: 'fold' | 'run';
  images: number;
  /** Share of images whose out-of-sample top class is the given label. */
  accuracy: number;
  fewestPerClass: number;
  medianPerClass: number;
  perClass: {
    classId: number;
    label: string;
    /** Images labeled with the class. */
    images: number;
    /** Images the judge calls this class, and the share of them labeled so (with its 95% lower bound). */
    predicted: number;
    precision: number;
    lowerBound: number;
    /** Findings that suggest this class are shown only when trusted. */
    trusted: boolean;
  }[];
  shown: number;
  heldWeakClass: number;
  heldSmallMargin: number;
}

/** An image whose given label the model contradicts, judged out of sample. */
export interface LabelIssue {
  imageId: number;
  split: Split;
  givenClassId: number;
  suggestedClassId: number;
  givenProbability: number;
  suggestedProbability: number;
  /** fold: a model trained without the image (train split); run: the run itself (val, test). */
  source: 'fold' | 'run';
  status: ReviewStatus;
}

export interface LabelIssueList {
  check: LabelCheckInfo | null;
  /** Most likely errors first. */
  issues: LabelIssue[];
}

export interface LabelCheckStarted {
  jobId: string;
  runId: number;
}

// Export and inference. An export writes a run's model as ONNX (checked against TF.js on test
// images before it is called done) and/or TF.js layers files, with labels.txt, preprocess.json,
// a model card and sample code, into a folder the user chose. Predictions run through
// onnxruntime, on a run's model or an exported one.
/** onnx-int8: model.onnx and model-int8.onnx (static int8, QDQ); `all` is ONNX (float) and TF.js. */
/** `all`: every float format (ONNX, TFLite, TF.js); the int8 ones are asked for by name, as each may be refused. */
export type ExportFormat = 'onnx' | 'onnx-int8' | 'tflite' | 'tflite-int8' | 'tfjs' | 'all';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['onnx', 'onnx-int8', 'tflite', 'tflite-int8', 'tfjs', 'all'];
export type ExportStatus = 'running' | 'completed' | 'failed';

/** How close the exported model's predictions are to the training framework's. */
export interface ExportParity {
  /** What was compared with TF.js: the ONNX model (onnxruntime), the TFLite model (its interpreter) or, for a TF.js-only export, its files. */
  against: 'onnxruntime' | 'tflite' | 'tfjs';
  images: number;
  /** The largest |p_export - p_tfjs| over every class probability of every image. */
  maxAbsDiff: number;
  /** Share of images with the same top class (1 = all). */
  top1Agreement: number;
}

export interface ExportInfo {
  id: number;
  runId: number;
  format: ExportFormat;
  /** The export folder. */
  path: string;
  /** The zip beside it, when one was asked for. */
  zipPath: string | null;
  status: ExportStatus;
  createdAt: number;
  parity: ExportParity | null;
  error: string | null;
}

export interface ExportStarted {
  jobId: string;
  exportId: number;
  path: string;
}

/** onnxruntime-node's speed on this machine (CPU provider, every core). */
export interface OrtSpeed {
  /** Images per second at batch `batch`. */
  imagesPerSecond: number;
  batch: number;
  /** Median time of one image at batch 1, in milliseconds. */
  latencyMs: number;
}

/** The check of an int8 model against the float one (both through onnxruntime), with its figures. */
export interface Int8Check {
  /** Training images whose activation ranges (min/max) set the int8 scales. */
  calibration: { images: number; split: Split; method: CalibrationMethod };
  /** The images compared (the parity images: the run's test split, else val, else train). */
  images: number;
  split: Split | null;
  /** Share of images where the int8 model's top class is the float model's. */
  top1Agreement: number;
  /** Accuracy on those images against their labels (null for generated images). */
  accuracy: { float: number; int8: number } | null;
  bytes: { float: number; int8: number };
  speed: { float: OrtSpeed; int8: OrtSpeed; threads: number };
}

/** How int8 activation ranges were set: min/max, clipped at a percentile, or the clip of least squared error. */
export type CalibrationMethod = 'minmax' | 'percentile' | 'mse';

/** The TFLite interpreter's check of model.tflite (against TF.js) and, for tflite-int8, of model-int8.tflite (against model.tflite). */
export interface TfliteCheck {
  /** The interpreter that ran the files. */
  runtime: string;
  parity: ExportParity;
  bytes: number;
  /** Median time of one image through the interpreter on this machine (one thread), ms. */
  latencyMs: number;
  int8: TfliteInt8Check | null;
}

export interface TfliteInt8Check {
  calibration: { images: number; split: Split; method: CalibrationMethod };
  images: number;
  split: Split | null;
  /** Share of images where model-int8.tflite's top class is model.tflite's. */
  top1Agreement: number;
  accuracy: { float: number; int8: number } | null;
  bytes: number;
  latencyMs: number;
  /** The int8 input and output tensors' parameters: real = scale * (q - zeroPoint). */
  input: { scale: number; zeroPoint: number };
  output: { scale: number; zeroPoint: number };
}

/** The `export` job's result and `loupe export --json`. Scripts may rely on these names. */
export interface ExportResult extends ExportInfo {
  /** Files written, relative to `path`. */
  files: string[];
  /** For onnx-int8 exports: model-int8.onnx's check and figures. */
  int8: Int8Check | null;
  /** For tflite, tflite-int8 and all exports: the TFLite files' checks and figures. */
  tflite: TfliteCheck | null;
  /** Which images the parity check used (the run's test split, else val, else train). */
  paritySplit: Split | null;
  seconds: number;
}

/** preprocess.json: how to turn an image file into the model's input. */
export interface PreprocessSpec {
  width: number;
  height: number;
  channels: 1 | 3;
  /** cover: scale to fill width x height, then crop the centre (keeps aspect). */
  resize: 'cover' | 'fill';
  layout: 'NHWC';
  /** The model input is x * scale + offset for pixels x in 0..255. */
  normalization: { scale: number; offset: number; inputRange: [number, number] };
}

/** Which model predicts: a run of the open project, or an exported model (folder or model.onnx). */
export interface PredictModel {
  runId?: number;
  path?: string;
}

export interface ClassScore {
  index: number;
  label: string;
  probability: number;
}

export interface ImagePrediction {
  /** The file name or path as given. */
  name: string;
  /** Most probable first; empty when the image could not be read. */
  top: ClassScore[];
  error: string | null;
}

export interface PredictResult {
  /** The model used, for people (run #3, /models/pets/model.onnx). */
  model: string;
  labels: string[];
  /** The onnxruntime execution provider that ran (cpu, cuda, dml, coreml). */
  provider: string;
  predictions: ImagePrediction[];
  seconds: number;
}

// Transfer learning. A backbone is a pretrained network (a registry entry in
// resources/backbones.json, or one the user added) whose features a small dense head trains on.
// Features are extracted once per image and backbone through onnxruntime and cached in the project.

/** A backbone Loupe knows, and whether a usable copy is on this machine. */
export interface BackboneInfo {
  /** The registry id ("mobilenet_v1") or the name a user gave an added one. */
  name: string;
  title: string;
  description: string;
  license: string;
  source: 'registry' | 'user';
  format: 'tfjs-layers' | 'onnx';
  /** The input size it was trained at (square), and the one Loupe runs it at by default. */
  inputSize: number;
  features: number | null;
  present: boolean;
  /** The copy in use: where it lies and which one it is (e.g. "official", "pw12"). */
  path: string | null;
  copy: string | null;
  /** Why it is or is not usable here, for people. */
  status: string;
  /** Loupe can download it (an official source whose files have pinned checksums). */
  downloadable: boolean;
  /** Download size in bytes, when known. */
  bytes: number | null;
  /** ImageNet top-1 accuracy (%) as its publishers report it (not measured by Loupe); null when unknown. */
  imagenetTop1: number | null;
  /** The copy here matched the registry's checksums (an official file, however it got here). */
  verified: boolean;
  /** Input sizes Loupe runs it at. */
  resolutions: number[];
  /** Feature-extraction speed measured on this machine, per resolution (empty until measured). */
  speeds: BackboneSpeed[];
}

/** Images per second through a backbone's features graph, measured on this machine. */
export interface BackboneSpeed {
  resolution: number;
  imagesPerSecond: number;
  /** Batch size the figure was measured with (1 for models that only run one image at a time). */
  batch: number;
  /** Epoch milliseconds. */
  measuredAt: number;
}

/** The backbone part of a transfer-learning run's config. */
export interface TransferConfig {
  /** The backbone's name (BackboneInfo.name), or the path it was given as. */
  name: string;
  title: string;
  /** Which copy of it (features differ between copies cut at different layers). */
  copy: string;
  /** Identifies the exact files and feature layer: a new value means new features. */
  fingerprint: string;
  /** Images are resized to resolution x resolution for the backbone. */
  resolution: number;
  features: number;
  /** Extra training features: of left-right flipped copies ('flip'), or none. */
  augment: 'none' | 'flip';
  /**
   * Predictions average the image and its left-right mirror image (test-time augmentation): the
   * run's model holds both passes. Absent in runs made before it existed.
   */
  flipAverage?: boolean;
  /** How much of the backbone the run trains; absent: the head only (runs made before fine-tuning). */
  fineTune?: FineTuneConfig;
}

/** How much of a pretrained backbone a transfer run trains: the head only, its last blocks, or all of it. */
export type FineTuneMode = 'head' | 'blocks' | 'all';

export interface FineTuneConfig {
  mode: FineTuneMode;
  /**
   * 'blocks': the backbone layer whose output is cached once per image (and augmented copy) and
   * where training starts; null for 'head' (the pooled features are cached) and 'all' (pixels).
   */
  cutLayer: string | null;
  /** Backbone blocks trained (0 for 'head'). */
  blocks: number;
  /** The backbone's learning rate as a fraction of the head's. */
  backboneLrScale: number;
  /** Epochs of head-only training on frozen features before the backbone trains too: the first `headEpochs` of the run's `epochs`. */
  headEpochs: number;
  /** Copies cached per training image ('blocks': the image, its mirror image and shifted crops, extracted once). */
  variants: number;
  /** Batch norm keeps its pretrained statistics while training (small batches would make them noise). */
  frozenBatchNorm: boolean;
}

/** The `backboneSpeed` job's result: a backbone's extraction speeds measured on this machine. */
export interface BackboneSpeedResult {
  backbone: string;
  speeds: BackboneSpeed[];
}

/** The `backbone` job's result (a download). */
export interface BackboneDownload {
  backbone: BackboneInfo;
  bytes: number;
  seconds: number;
}

// The data doctor: checks of the whole data set (near-duplicates and leaks, image quality, class
// balance), worst first.
export type DoctorCheck =
  | 'nearDuplicate'
  | 'blurry'
  | 'tooDark'
  | 'tooBright'
  | 'lowInformation'
  | 'greyscale'
  | 'oddSize'
  | 'oddAspect'
  | 'classImbalance'
  // From cached backbone features, and the last label check's pending findings.
  | 'outlier'
  | 'classInTwo'
  | 'labelError';

export interface DoctorImage {
  id: number;
  /** The imported file's own name. */
  name: string;
  split: Split;
  label: string | null;
  /** Content hash, for its thumbnail (absent in reports kept before it was added). */
  hash?: string;
}

export interface DoctorFinding {
  /** Names the check and its images: a dismissed key is not shown again while its images stay the same. */
  key: string;
  check: DoctorCheck;
  /** 0..1, higher is worse (near-duplicates: how alike the closest pair is). */
  score: number;
  /** Near-duplicates in more than one split: a leak between training and scoring. */
  crossSplit: boolean;
  /** What was found, in a sentence. */
  detail: string;
  images: DoctorImage[];
}

export interface DoctorReport {
  /** Live images checked, and seconds the check took. */
  images: number;
  seconds: number;
  /** Images decoded by this check (the others' figures were kept from an earlier one), and those that could not be read. */
  decoded: number;
  unreadable: number;
  /** The backbone whose cached features the near-duplicate check used, or null (hash only). */
  backbone: string | null;
  /** Images that had cached features, of `images`. */
  withFeatures: number;
  /** Findings per check (every check, 0 included), after dismissals. */
  checks: { check: DoctorCheck; count: number }[];
  /** Worst first: leaks, then by score. */
  findings: DoctorFinding[];
  dismissed: number;
  /** What the leaks do to the best run's test score; null without a completed run scored on test. */
  leakEffect: DoctorLeakEffect | null;
  /** What the check did without a backbone, and what needs one (for people). */
  scope: { withoutBackbone: string; needsBackbone: string; labelErrors?: string };
  createdAt: number;
}

/** "More like this": the images nearest to a query image by backbone features, most alike first. */
export interface SimilarImages {
  /** The backbone (and resolution) whose cached features were compared. */
  backbone: string;
  /** Images searched (those with cached features). */
  images: number;
  ids: number[];
  /** Standardised cosine similarity of each (1: the same features). */
  similarities: number[];
  /** The whole query, and the search over the feature matrix alone. */
  seconds: number;
  searchSeconds: number;
}

/**
 * The best run's test accuracy with and without its leaked test images: those with a near-copy
 * among the images the run trained on (a leak finding not dismissed).
 */
export interface DoctorLeakEffect {
  runId: number;
  images: number;
  accuracy: number;
  leaked: number;
  /** Accuracy on the leaked images, and on the others (null where there are none). */
  leakedAccuracy: number | null;
  withoutLeaks: number | null;
}

// The map: a 2-D layout (UMAP) of every image's backbone features.

/** The `map` job's result. */
export interface MapLayoutResult {
  /** The features cache laid out: the backbone and its resolution ("mobilenet_v1 at 128 px"). */
  backbone: string;
  /** Laid out by UMAP now (0 when only new images were placed). */
  laidOut: number;
  /** New images placed among the laid-out ones by their nearest neighbours. */
  placed: number;
  /** Live images without cached features (not on the map). */
  withoutFeatures: number;
  seconds: number;
}

/** Where a point's prediction comes from (MapPoints.predictionSource, one byte per point). */
export const MAP_PREDICTION_SOURCES = ['none', 'heldOut', 'suggestion', 'trainedOn'] as const;

/**
 * Every image on the map, packed: each array is little-endian bytes in base64 (the browser's
 * WebSocket carries JSON text), one entry per point in the same order.
 */
export interface MapPoints {
  /** The layout shown, or null with `reason` saying why there is none. */
  layout: { backbone: string; seed: number; neighbours: number; dims: number; epochs: number; seconds: number; updatedAt: number } | null;
  reason: string | null;
  count: number;
  /** Int32: image ids. */
  ids: string;
  /** Float32 pairs: x, y in [-1, 1]. */
  xy: string;
  /** Uint8: 1 where the point was placed among the others after the layout (new images). */
  placed: string;
  /** Int32: the label's class id, -1 unlabeled. */
  labels: string;
  /** Uint8: 0 train, 1 val, 2 test. */
  splits: string;
  /** Int32: the predicted class id, -1 where there is no prediction. */
  predicted: string;
  /** Float32: the prediction's confidence (0 where none). */
  confidence: string;
  /** Uint8: index into MAP_PREDICTION_SOURCES. */
  predictionSource: string;
  classes: { id: number; name: string; color: string }[];
  /** The latest completed run, whose held-out (val, test) predictions colour the map. */
  runId: number | null;
  /** Live images not on the map: without cached features, or with features but not placed yet (run the map again). */
  withoutFeatures: number;
  notPlaced: number;
}
