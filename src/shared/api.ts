// The one contract between the studio's front ends (desktop window, browser, CLI) and the core
// services. Each method is declared once, with a runtime schema for its parameters; the
// TypeScript interface, the IPC handlers, the WebSocket handlers and the renderer client are
// all derived from this table.

import { s, type Schema } from './schema';
import type {
  DirectoryListing,
  HostInfo,
  PathInfo,
  ImageDetails,
  ImageItem,
  ImagesChanged,
  UndoState,
  ImportReport,
  ImportStarted,
  JobInfo,
  JobProgress,
  MenuCommand,
  PendingImport,
  ProjectSummary,
  RecentProject,
  RunDetails,
  RunningJob,
  RunSummary,
  SampleCreated,
  TrainPlan,
  TrainStarted,
  UploadInfo,
  BackendInfo,
  Evaluation,
  EvaluationImages,
  LabelIssueList,
  LabelCheckStarted,
  ReviewResult,
  RunComparison,
  SuggestionList,
  SuggestStarted,
  ExportInfo,
  ExportStarted,
  PredictResult,
  BackboneInfo,
  TrainOverrides,
  DoctorReport,
  MapPoints,
  SimilarImages,
} from './types';
import { ARCH_NAMES, BACKEND_NAMES, EXPORT_FORMATS, FOLDER_PURPOSES } from './types';

interface MethodSpec<P, R> {
  params: Schema<P>;
  /** Phantom: carries the result type only. */
  result?: R;
}

/** `method<Result>()(paramsSchema)`: curried so the params type is inferred. */
const method =
  <R>() =>
  <P>(params: Schema<P>): MethodSpec<P, R> => ({ params });

const none = s.object({});
const projectPath = s.string({ min: 1, max: 4096 });
/** A row id (run, class, image): the CLI's `--run` reads it too. */
export const id = s.number({ int: true, min: 1 });
const ids = s.array(id, { max: 1_000_000 });
const split = s.literal('train', 'val', 'test');
const color = s.string({ pattern: /^#[0-9a-fA-F]{6}$/ });
const imageFilter = s.object({
  split: s.optional(split),
  classId: s.optional(id),
  unlabeled: s.optional(s.boolean()),
  modelLabeled: s.optional(s.boolean()),
  search: s.optional(s.string({ max: 500 })),
});
/** Advanced training settings: each one replaces the plan's choice. */
export const trainOverrides = s.object({
  arch: s.optional(s.literal(...ARCH_NAMES)),
  width: s.optional(s.number({ int: true, min: 8, max: 512 })),
  height: s.optional(s.number({ int: true, min: 8, max: 512 })),
  channels: s.optional(s.literal(1, 3)),
  epochs: s.optional(s.number({ int: true, min: 1, max: 1000 })),
  batchSize: s.optional(s.number({ int: true, min: 1, max: 4096 })),
  optimizer: s.optional(s.literal('adam', 'sgd')),
  learningRate: s.optional(s.number({ min: 1e-7, max: 10 })),
  momentum: s.optional(s.number({ min: 0, max: 0.999 })),
  weightDecay: s.optional(s.number({ min: 0, max: 1 })),
  schedule: s.optional(
    s.object({
      kind: s.literal('constant', 'step', 'cosine'),
      stepSize: s.optional(s.number({ int: true, min: 1, max: 1000 })),
      gamma: s.optional(s.number({ min: 0, max: 1 })),
    }),
  ),
  augmentation: s.optional(
    s.object({
      flip: s.optional(s.boolean()),
      shift: s.optional(s.number({ int: true, min: 0, max: 64 })),
      brightness: s.optional(s.number({ min: 0, max: 1 })),
    }),
  ),
  patience: s.optional(s.nullable(s.number({ int: true, min: 1, max: 1000 }))),
  restoreBest: s.optional(s.boolean()),
  seed: s.optional(s.number({ int: true, min: 0, max: 2 ** 31 - 1 })),
  backend: s.optional(s.literal('auto', ...BACKEND_NAMES)),
  workers: s.optional(s.number({ int: true, min: 1, max: 16 })),
  backbone: s.optional(s.nullable(s.string({ min: 1, max: 4096 }))),
  fineTune: s.optional(s.literal('head', 'blocks', 'all')),
});
const importId = s.object({ importId: s.number({ int: true, min: 1 }) });
export const evalSplit = s.literal('val', 'test');
const evaluationFilter = s.object({
  mode: s.literal('all', 'misclassified', 'leastConfident'),
  trueClassId: s.optional(id),
  predictedClassId: s.optional(id),
});
const uploadId = s.object({ uploadId: s.string({ pattern: /^[0-9a-f]{32}$/ }) });
const predictModel = s.object({ runId: s.optional(id), path: s.optional(projectPath) });
/** The formats an export writes (the CLI's --format reads it too). */
export const exportFormat = s.literal(...EXPORT_FORMATS);
export const topK = s.optional(s.number({ int: true, min: 1, max: 100 }));
/** A model on this machine to add as a backbone (the CLI's `backbones add` reads these limits). */
export const backboneSource = s.object({
  path: projectPath,
  name: s.optional(s.string({ min: 1, max: 100, pattern: /^[\w.-]+$/ })),
  output: s.optional(s.string({ min: 1, max: 500 })),
  size: s.optional(s.number({ int: true, min: 16, max: 1024 })),
  scale: s.optional(s.number({ min: -1000, max: 1000 })),
  offset: s.optional(s.number({ min: -1000, max: 1000 })),
});
/** A backbone speed measurement (the CLI's `backbones measure` reads these limits). */
export const backboneSpeedRequest = s.object({ name: s.string({ min: 1, max: 4096 }), resolution: s.optional(s.number({ int: true, min: 16, max: 1024 })) });
/** The label-error finder's settings (the CLI's `label-errors` reads these limits). */
export const labelCheckOptions = s.object({
  runId: s.optional(id),
  folds: s.optional(s.number({ int: true, min: 2, max: 10 })),
  epochs: s.optional(s.number({ int: true, min: 1, max: 1000 })),
});
/** A map layout's settings (the CLI's `map` reads these limits). */
export const mapLayoutRequest = s.object({
  recompute: s.optional(s.boolean()),
  seed: s.optional(s.number({ int: true, min: 0, max: 2 ** 31 - 1 })),
  epochs: s.optional(s.number({ int: true, min: 10, max: 2000 })),
});
/** Base64 of one image sent for prediction: at most 8 MB of bytes. */
export const MAX_PREDICT_IMAGE_BYTES = 8 * 1024 * 1024;

export const API = {
  hostInfo: method<HostInfo>()(none),

  createProject: method<ProjectSummary>()(
    s.object({ path: projectPath, name: s.optional(s.string({ min: 1, max: 200 })) }),
  ),
  openProject: method<ProjectSummary>()(s.object({ path: projectPath })),
  closeProject: method<null>()(none),
  projectSummary: method<ProjectSummary>()(none),
  recentProjects: method<RecentProject[]>()(none),
  forgetRecentProject: method<null>()(s.object({ path: projectPath })),

  /** Native dialogs; the browser host answers NOT_SUPPORTED and the UI uses listDirectory. */
  choosePath: method<string[]>()(
    s.object({
      kind: s.literal('openDirectory', 'openFile', 'openFiles', 'createDirectory'),
      title: s.optional(s.string({ max: 200 })),
    }),
  ),
  listDirectory: method<DirectoryListing>()(s.object({ path: s.optional(projectPath), showHidden: s.optional(s.boolean()) })),
  /** Whether a path exists, is a folder, a project, empty, or inside a project (never throws for a missing path). */
  pathInfo: method<PathInfo>()(s.object({ path: projectPath })),
  /** Creates one folder, `name` (a plain folder name), inside `parent`; returns its path. */
  createFolder: method<string>()(s.object({ parent: projectPath, name: s.string({ min: 1, max: 255 }) })),
  /** Where a picker for this purpose starts: the folder last used for it, if it is still there; else home. */
  lastFolder: method<string>()(s.object({ purpose: s.literal(...FOLDER_PURPOSES) })),
  rememberFolder: method<null>()(s.object({ purpose: s.literal(...FOLDER_PURPOSES), path: projectPath })),

  // Labeling. A gallery fetches the ordered ids of its filter once, then pages by id.
  // Every change is undoable.
  imageIds: method<number[]>()(s.object({ filter: imageFilter })),
  /** A page of the gallery: the images with these ids (missing or removed ones are left out). */
  imagesById: method<ImageItem[]>()(s.object({ ids: s.array(id, { max: 5000 }) })),
  /** The next unlabeled image after `afterId` in the filter's order. */
  nextUnlabeled: method<number | null>()(s.object({ filter: imageFilter, afterId: s.number({ int: true, min: 0 }) })),
  imageDetails: method<ImageDetails>()(s.object({ id })),
  /** source 'suggestion': the label is a model's prediction accepted as is (scores count it apart); default 'user'. */
  setLabel: method<ImagesChanged>()(s.object({ imageIds: ids, classId: s.nullable(id), source: s.optional(s.literal('user', 'suggestion')) })),
  moveToSplit: method<ImagesChanged>()(s.object({ imageIds: ids, split })),
  removeImages: method<ImagesChanged>()(s.object({ imageIds: ids })),
  createClass: method<ImagesChanged & { classId: number }>()(
    s.object({ name: s.string({ min: 1, max: 200 }), color: s.optional(color) }),
  ),
  updateClass: method<ImagesChanged>()(
    s.object({ id, name: s.optional(s.string({ min: 1, max: 200 })), color: s.optional(color) }),
  ),
  /** The full class order, first to last. */
  reorderClasses: method<ImagesChanged>()(s.object({ ids })),
  /** Relabels every image of the sources with the target, then deletes the sources. */
  mergeClasses: method<ImagesChanged>()(s.object({ sourceIds: ids, targetId: id })),
  /** Deletes a class; its images become unlabeled. */
  deleteClass: method<ImagesChanged>()(s.object({ id })),
  undo: method<ImagesChanged>()(none),
  redo: method<ImagesChanged>()(none),
  undoState: method<UndoState>()(none),

  /** Jobs of the open project (running and recently finished). */
  listJobs: method<JobInfo[]>()(none),
  cancelJob: method<null>()(s.object({ jobId: s.string({ min: 1, max: 100 }) })),
  /** Jobs running in any project this process has open (they outlive the page that started them). */
  runningJobs: method<RunningJob[]>()(none),

  /**
   * Imports folders (class folders, split folders, unlabeled), image files and CSVs of
   * `path,label` into the open project, as an `import` job whose result is an ImportReport.
   * The desktop window passes the paths of dropped files here.
   */
  importPaths: method<ImportStarted>()(s.object({ paths: s.array(projectPath, { min: 1, max: 10_000 }) })),
  /** Imports that stopped before the end (cancelled, interrupted, failed): resumable. */
  pendingImports: method<PendingImport[]>()(none),
  /** Continues a pending import: files already done are skipped. */
  resumeImport: method<ImportStarted>()(importId),
  /** Gives up a pending import (what it imported stays); it is no longer listed. */
  discardImport: method<null>()(importId),
  importReport: method<ImportReport>()(importId),
  /** Browser mode: starts a streamed upload of dropped files into the open project. */
  beginUpload: method<UploadInfo>()(none),
  /** Imports what was uploaded, keeping its folders (class folders give labels). */
  importUpload: method<ImportStarted>()(uploadId),
  discardUpload: method<null>()(uploadId),
  /** Creates a project with sample data at `path`, opens it, and imports the samples as a job. */
  createSampleProject: method<SampleCreated>()(s.object({ path: projectPath, kind: s.literal('digits') })),

  // Training. A run is a `train` job; its progress detail is a TrainProgress.
  /** The backends Loupe can train on here, best first, and why each is or is not usable. */
  trainingBackends: method<BackendInfo[]>()(none),
  /** What one click would do with the current data (with any overrides applied), and why. */
  trainPlan: method<TrainPlan>()(s.object({ overrides: s.optional(trainOverrides) })),
  startTraining: method<TrainStarted>()(s.object({ overrides: s.optional(trainOverrides) })),
  /** The Advanced settings kept with the project, as the Train view last left them. */
  trainSettings: method<TrainOverrides>()(none),
  /** Keeps the Advanced settings with the project (a backbone given as a path is not kept). */
  saveTrainSettings: method<TrainOverrides>()(s.object({ overrides: trainOverrides })),
  listRuns: method<RunSummary[]>()(none),
  runDetails: method<RunDetails>()(s.object({ runId: id })),

  // Transfer learning: pretrained backbones (found on this machine, downloaded, or added by the
  // user) whose features train a small head. Downloads and extractions are jobs of the open project.
  /** Every backbone Loupe knows, and whether a usable copy is here. */
  listBackbones: method<BackboneInfo[]>()(none),
  /** Downloads a registry backbone from its official source, as a `backbone` job (result: BackboneDownload). */
  downloadBackbone: method<{ jobId: string }>()(s.object({ name: s.string({ min: 1, max: 200 }) })),
  /** Measures a backbone's feature-extraction speed on this machine at each resolution it offers (or one), as a `backboneSpeed` job. */
  measureBackboneSpeed: method<{ jobId: string }>()(backboneSpeedRequest),
  /** Adds a backbone from this machine: an official file recognised by its sha256 (that registry backbone, verified), or a TF.js layers model folder or an ONNX file of one's own (the feature layer or value: found automatically for ONNX, or given). */
  addBackbone: method<BackboneInfo>()(backboneSource),
  /** Extracts (and caches) the backbone features of every image, as a `features` job, so a later run starts at once. */
  startFeatureExtraction: method<{ jobId: string }>()(s.object({ backbone: s.optional(s.string({ min: 1, max: 4096 })) })),

  // Evaluation and model-assisted labeling. Without a runId: the best completed run. The truth
  // is each image's current label, so fixing a label changes the evaluation at once.
  evaluateRun: method<Evaluation>()(s.object({ runId: s.optional(id), split: s.optional(evalSplit) })),
  /** A gallery of evaluated images (top losses, least confident, a class, a confusion cell). */
  evaluationImages: method<EvaluationImages>()(s.object({ runId: id, split: evalSplit, filter: evaluationFilter })),
  compareRuns: method<RunComparison>()(s.object({ runA: id, runB: id, split: s.optional(evalSplit) })),
  /** Predicts every unlabeled image with a run's model, as a `suggest` job (result: SuggestResult). */
  startSuggestions: method<SuggestStarted>()(s.object({ runId: s.optional(id) })),
  /** Pending suggestions of the unlabeled images, least confident first. */
  suggestions: method<SuggestionList>()(none),
  /**
   * Labels images with their suggestions (source 'suggestion'); never overwrites a label. Undoable.
   * minConfidence compares whole percents, as shown; by confidence alone only train images are
   * labeled unless `splits` names others.
   */
  acceptSuggestions: method<ReviewResult>()(
    s.object({
      imageIds: s.optional(ids),
      minConfidence: s.optional(s.number({ min: 0, max: 1 })),
      splits: s.optional(s.array(s.literal('train', 'val', 'test'), { max: 3 })),
    }),
  ),
  /** Looks for likely label errors (k-fold out-of-sample predictions), as a `labelErrors` job (result: LabelCheckInfo). */
  startLabelCheck: method<LabelCheckStarted>()(labelCheckOptions),
  labelIssues: method<LabelIssueList>()(s.object({ status: s.optional(s.literal('pending', 'accepted', 'dismissed')) })),
  /** Accept (label as suggested) or dismiss (keep the given label) label issues. Undoable. */
  resolveLabelIssues: method<ReviewResult>()(s.object({ imageIds: ids, action: s.literal('accept', 'dismiss') })),

  // The data doctor: near-duplicates and leaks, image quality, class balance, worst first.
  /** Checks the whole project as a `doctor` job (result: DoctorReport); only images added since the last check are read. */
  startDoctor: method<{ jobId: string }>()(none),
  /** The last check's report without the findings dismissed since; null when the project was never checked. */
  doctorReport: method<DoctorReport | null>()(none),
  /** Hides findings (by key) while their images stay the same; returns the report as it is then shown. */
  dismissDoctorFindings: method<DoctorReport | null>()(s.object({ keys: s.array(s.string({ min: 1, max: 200 }), { min: 1, max: 100_000 }) })),
  /**
   * "More like this": the images nearest by cached backbone features to an image of the project,
   * an image file the window read (dropped or chosen; base64, MAX_PREDICT_IMAGE_BYTES), or a file
   * on the machine Loupe runs on. Most alike first, the query image left out.
   */
  similarImages: method<SimilarImages>()(
    s.object({
      imageId: s.optional(id),
      file: s.optional(s.object({ name: s.string({ min: 1, max: 1000 }), data: s.string({ max: Math.ceil(MAX_PREDICT_IMAGE_BYTES / 3) * 4 }) })),
      path: s.optional(projectPath),
      limit: s.optional(s.number({ int: true, min: 1, max: 5000 })),
    }),
  ),

  // The map: a 2-D layout (UMAP) of the cached backbone features of every image.
  /** Lays out the map as a `map` job (result: MapLayoutResult); images added since the last layout are placed among it, unless `recompute`. */
  startMapLayout: method<{ jobId: string }>()(mapLayoutRequest),
  /** Every image on the map, packed (MapPoints), with its label, split and the latest run's held-out prediction. */
  mapPoints: method<MapPoints>()(none),

  // Export and inference. An export is an `export` job (result: ExportResult) that writes
  // <dir>/<name>/ (and <dir>/<name>.zip) and nothing outside `dir`. Without a runId: the best run.
  startExport: method<ExportStarted>()(
    s.object({
      runId: s.optional(id),
      format: exportFormat,
      dir: projectPath,
      name: s.optional(s.string({ min: 1, max: 200 })),
      zip: s.optional(s.boolean()),
    }),
  ),
  listExports: method<ExportInfo[]>()(s.object({ runId: s.optional(id) })),
  /** Predicts image files on the machine Loupe runs on (a chosen folder's images). */
  predictPaths: method<PredictResult>()(s.object({ model: predictModel, paths: s.array(projectPath, { min: 1, max: 64 }), top: topK })),
  /** Predicts images the window read (dropped or chosen files), as base64: up to 16 a call, MAX_PREDICT_IMAGE_BYTES each. */
  predictImages: method<PredictResult>()(
    s.object({
      model: predictModel,
      images: s.array(s.object({ name: s.string({ min: 1, max: 1000 }), data: s.string({ max: Math.ceil(MAX_PREDICT_IMAGE_BYTES / 3) * 4 }) }), { min: 1, max: 16 }),
      top: topK,
    }),
  ),
} as const;

export type ApiSpec = typeof API;
export type MethodName = keyof ApiSpec;
export type ParamsOf<M extends MethodName> =
  ApiSpec[M] extends MethodSpec<infer P, unknown> ? P : never;
export type ResultOf<M extends MethodName> = ApiSpec[M]['result'] extends infer R
  ? Exclude<R, undefined>
  : never;

/** Methods whose parameters are all optional can be called without an argument. */
export type LoupeApi = {
  [M in MethodName]: {} extends ParamsOf<M>
    ? (params?: ParamsOf<M>) => Promise<ResultOf<M>>
    : (params: ParamsOf<M>) => Promise<ResultOf<M>>;
};

export const METHOD_NAMES = Object.keys(API) as MethodName[];

export function isMethodName(value: unknown): value is MethodName {
  return typeof value === 'string' && Object.hasOwn(API, value);
}

export function parseParams<M extends MethodName>(name: M, params: unknown): ParamsOf<M> {
  return API[name].params.parse(params ?? {}) as ParamsOf<M>;
}

// Pushed events, named `onSomething`, each with one payload.
export interface LoupeEvents {
  onProjectChanged: ProjectSummary | null;
  onMenuCommand: MenuCommand;
  onJobProgress: JobProgress;
  onJobFinished: JobInfo;
  /** Labels, splits or images changed (in this window or another one on the same project). */
  onImagesChanged: ImagesChanged;
  /** A run was created or ended (runId null: look at the list again). */
  onRunsChanged: { runId: number | null };
}

export type EventName = keyof LoupeEvents;

const EVENT_TABLE: { [E in EventName]: true } = {
  onProjectChanged: true,
  onMenuCommand: true,
  onJobProgress: true,
  onJobFinished: true,
  onImagesChanged: true,
  onRunsChanged: true,
};
export const EVENT_NAMES = Object.keys(EVENT_TABLE) as EventName[];

export function isEventName(value: unknown): value is EventName {
  return typeof value === 'string' && Object.hasOwn(EVENT_TABLE, value);
}

export type EventListener<E extends EventName> = (payload: LoupeEvents[E]) => void;
