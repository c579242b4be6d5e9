import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LoupeApi } from '../../shared/api';
import { LoupeError } from '../../shared/errors';
import type { DirectoryEntry, ProjectSummary } from '../../shared/types';
import { projectSummary } from '../services/summary';
import { isProjectFolder, projectRootOf, type Project } from '../store/project';
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
>;

const MAX_LISTING = 5000;

/** Makes `project` the session's project, remembers it, and tells the session. */
export function openedForSession(session: Session, project: Project): ProjectSummary {
  session.setProject(project);
  session.studio.appState.touchRecent(project.root, project.name);
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

    async listDirectory({ path: dir } = {}) {
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
      for (const d of dirents) {
        if (d.name.startsWith('.')) continue;
        let isDir = d.isDirectory();
        if (d.isSymbolicLink()) {
          try {
            isDir = fs.statSync(path.join(target, d.name)).isDirectory();
          } catch {
            continue; // broken link
          }
        }
        const full = path.join(target, d.name);
        entries.push({ name: d.name, kind: isDir ? 'directory' : 'file', isProject: isDir && isProjectFolder(full) });
        if (entries.length >= MAX_LISTING) break;
      }
      entries.sort((a, b) =>
        a.kind === b.kind ? a.name.localeCompare(b.name) : a.kind === 'directory' ? -1 : 1,
      );
      const parent = path.dirname(target);
      return { path: target, parent: parent === target ? null : parent, entries };
    },
  };
}
