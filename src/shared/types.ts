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
}

export type MenuCommand = 'newProject' | 'openProject' | 'closeProject' | 'undo' | 'redo';

// Long work (import, training, export, feature extraction) runs as jobs: it reports progress,
// can be cancelled, and ends with a result or an error.
export type JobKind = 'import' | 'train' | 'export' | 'features' | 'suggest' | 'labelErrors';
export type JobStatus = 'running' | 'completed' | 'cancelled' | 'failed';

export interface JobProgress {
  jobId: string;
  kind: JobKind;
  projectPath: string;
  /** What the job is doing now, for people ("Importing", "Epoch 3/20"). */
  phase: string;
  done: number;
  total: number | null;
  /** Items per second over the recent past; null until there is a measurement. */
  ratePerSecond: number | null;
  etaSeconds: number | null;
  /** Kind-specific live data (e.g. training curves); small. */
  detail?: unknown;
}

export interface JobInfo extends JobProgress {
  status: JobStatus;
  startedAt: number;
  finishedAt: number | null;
  error: { code: string; message: string } | null;
  /** The kind-specific outcome (e.g. the import report), once completed or cancelled. */
  result: unknown;
}

// Labeling.
export type LabelSource = 'user' | 'import' | 'suggestion';

/** Which images a gallery shows. All fields narrow the set; none means every image. */
export interface ImageFilter {
  split?: Split;
  /** Images labeled with this class. */
  classId?: number;
  /** Only images without a label. */
  unlabeled?: boolean;
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
