import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LoupeApi } from '../../shared/api';
import { LoupeError } from '../../shared/errors';
import type { DirectoryEntry, FolderPurpose, PathInfo, ProjectSummary } from '../../shared/types';
import { folderNameProblem } from '../../shared/folder-names';
import { projectSummary } from '../services/summary';
import { enclosingProject, isProjectFolder, projectRootOf, type Project } from '../store/project';
import type { Session } from './studio';

type ProjectApi = Pick<
  LoupeApi,
  | 'hostInfo'
  | 'createProject'
  | 'openProject'
  | 'closeProject'
  | 'projectSummary'
  | 'recentProjects'
  | 'forgetRecentProject'
  | 'choosePath'
  | 'listDirectory'
  | 'pathInfo'
  | 'createFolder'
  | 'lastFolder'
  | 'rememberFolder'
>;

const MAX_LISTING = 5000;

const folderSetting = (purpose: FolderPurpose) => `folder.${purpose}`;

const statOrNull = (p: string): fs.Stats | null => {
  try {
    return fs.statSync(p);
  } catch {
    return null;
  }
};
const isDirectory = (p: string) => statOrNull(p)?.isDirectory() ?? false;

/** Makes `project` the session's project, remembers it, and tells the session. */
export function openedForSession(session: Session, project: Project): ProjectSummary {
  session.setProject(project);
  session.studio.appState.touchRecent(project.root, project.name);
  // The next project picker starts beside this project, not back in the home folder.
  session.studio.appState.setSetting(folderSetting('projects'), path.dirname(project.root));
  const summary = projectSummary(project);
  session.emit('onProjectChanged', summary);
  return summary;
}

export function projectHandlers(session: Session): ProjectApi {
  const { studio } = session;
  const opened = (project: Project): ProjectSummary => openedForSession(session, project);

  return {
    async hostInfo() {
      return {
        mode: studio.host.mode,
        version: studio.version,
        platform: process.platform,
        homeDir: os.homedir(),
        nativeDialogs: Boolean(studio.host.choosePath),
        initialProject: studio.host.initialProject ?? null,
        instanceId: studio.instanceId,
      };
    },

    async createProject({ path: dir, name }) {
      const root = projectRootOf(dir);
      return opened(studio.acquire(root, session, { name }));
    },

    async openProject({ path: dir }) {
      const root = projectRootOf(dir);
      return opened(studio.acquire(root, session));
    },

    async closeProject() {
      session.setProject(null);
      session.emit('onProjectChanged', null);
      return null;
    },

    async projectSummary() {
      return projectSummary(session.requireProject());
    },

    async recentProjects() {
      return studio.appState.recent();
    },

    async forgetRecentProject({ path: p }) {
      studio.appState.forgetRecent(p);
      return null;
    },

    async choosePath({ kind, title }) {
      if (!studio.host.choosePath) {
        throw new LoupeError('NOT_SUPPORTED', 'This window has no native file dialogs; type or browse to a path.');
      }
      return studio.host.choosePath(kind, title);
    },

    async pathInfo({ path: p }) {
      const target = path.resolve(p);
      const stat = statOrNull(target);
      const isDir = stat?.isDirectory() ?? false;
      let empty = false;
      if (isDir) {
        try {
          empty = fs.readdirSync(target).length === 0;
        } catch {
          empty = false;
        }
      }
      const info: PathInfo = {
        path: target,
        exists: stat !== null,
        isDirectory: isDir,
        isProject: isDir && isProjectFolder(target),
        empty,
        insideProject: enclosingProject(target),
      };
      return info;
    },

    async createFolder({ parent, name }) {
      const problem = folderNameProblem(name);
      if (problem) throw new LoupeError('INVALID_INPUT', problem);
      const dir = path.resolve(parent);
      if (!isDirectory(dir)) throw new LoupeError('NOT_FOUND', `${dir} is not a folder that exists.`);
      const created = path.join(dir, name);
      // The name is one plain component, so this cannot leave `dir`; checked all the same.
      if (path.dirname(created) !== dir) throw new LoupeError('INVALID_INPUT', `${name} is not a plain folder name.`);
      try {
        fs.mkdirSync(created);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') throw new LoupeError('ALREADY_EXISTS', `${created} already exists.`);
        if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') throw new LoupeError('READ_ONLY', `Loupe may not create folders in ${dir}.`);
        throw new LoupeError('IO_ERROR', `Cannot create ${created}: ${code ?? 'unknown error'}.`);
      }
      return created;
    },

    async lastFolder({ purpose }) {
      const last = studio.appState.getSetting(folderSetting(purpose));
      return last && isDirectory(last) ? last : os.homedir();
    },

    async rememberFolder({ purpose, path: p }) {
      const target = path.resolve(p);
      if (isDirectory(target)) studio.appState.setSetting(folderSetting(purpose), target);
      return null;
    },

    async listDirectory({ path: dir, showHidden = false } = {}) {
      const target = path.resolve(dir ?? os.homedir());
      let dirents: fs.Dirent[];
      try {
        dirents = fs.readdirSync(target, { withFileTypes: true });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') throw new LoupeError('NOT_FOUND', `${target} does not exist.`);
        if (code === 'ENOTDIR') throw new LoupeError('INVALID_PATH', `${target} is not a folder.`);
        throw new LoupeError('IO_ERROR', `Cannot read ${target}: ${code ?? 'unknown error'}.`);
      }
      const entries: DirectoryEntry[] = [];
      let hiddenFolders = 0;
      for (const d of dirents) {
        let isDir = d.isDirectory();
        if (d.isSymbolicLink()) {
          try {
            isDir = fs.statSync(path.join(target, d.name)).isDirectory();
          } catch {
            continue; // broken link
          }
        }
        if (d.name.startsWith('.') && !showHidden) {
          if (isDir) hiddenFolders++;
          continue;
        }
        const full = path.join(target, d.name);
        entries.push({ name: d.name, kind: isDir ? 'directory' : 'file', isProject: isDir && isProjectFolder(full) });
        if (entries.length >= MAX_LISTING) break;
      }
      entries.sort((a, b) =>
        a.kind === b.kind ? a.name.localeCompare(b.name) : a.kind === 'directory' ? -1 : 1,
      );
      const parent = path.dirname(target);
      return {
        path: target,
        parent: parent === target ? null : parent,
        entries,
        hiddenFolders,
        project: isProjectFolder(target) ? target : enclosingProject(target),
      };
    },
  };
}
