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
