// Import over the API: paths (folders, files, CSVs; also what the desktop window gets for dropped
// files), browser-mode uploads of dropped files, resuming, and the sample project. Every import
// runs as an exclusive `import` job; its result is the ImportReport, and when it ends every
// window showing the project gets `onProjectChanged` with the new summary.

import path from 'node:path';
import type { LoupeApi } from '../../shared/api';
import { LoupeError } from '../../shared/errors';
import type { ImportStarted } from '../../shared/types';
import {
  createImport,
  deleteImport,
  discardImport,
  importReport,
  pendingImports,
  requirePending,
  runImport,
  type ImportSource,
} from '../services/import';
import { MAX_UPLOAD_FILE_BYTES } from '../services/import/uploads';
import { SAMPLE_NAME, SAMPLE_SPLIT_SEED } from '../services/sample';
import { setSplitSeed } from '../services/splits';
import { projectSummary } from '../services/summary';
import { projectRootOf, requireWritable, type Project } from '../store/project';
import { openedForSession } from './project-handlers';
import type { Session, Studio } from './studio';

type ImportApi = Pick<
  LoupeApi,
  | 'importPaths'
  | 'pendingImports'
  | 'resumeImport'
  | 'discardImport'
  | 'importReport'
  | 'beginUpload'
  | 'importUpload'
  | 'discardUpload'
  | 'createSampleProject'
>;

export const UPLOAD_ROUTE = '/upload/';

/** Runs import `importId` as a job; the project's windows hear about progress and the end. */
export function startImportJob(studio: Studio, project: Project, importId: number): ImportStarted {
  const { jobId, promise } = studio.startJob(
    project,
    'import',
    (reporter) =>
      runImport(project, importId, {
        signal: reporter.signal,
        onProgress: (p) =>
          reporter.progress(p.done, p.total, p.phase, { imported: p.imported, duplicates: p.duplicates, skipped: p.skipped }),
      }),
    { exclusive: true, phase: 'Scanning' },
  );
  void promise
    .catch(() => {})
    .finally(() => {
      if (!project.closed) studio.emitToProject(project, 'onProjectChanged', projectSummary(project));
    });
  return { jobId, importId };
}

/** Records a new import and starts it; the record goes again if the job cannot start (BUSY). */
function startNewImport(studio: Studio, project: Project, sources: ImportSource[]): ImportStarted {
  const importId = createImport(project.db, sources);
  try {
    return startImportJob(studio, project, importId);
  } catch (err) {
    deleteImport(project.db, importId);
    throw err;
  }
}

export function importHandlers(session: Session): ImportApi {
  const { studio } = session;
  return {
    async importPaths({ paths }) {
      const project = requireWritable(session.requireProject());
      const sources: ImportSource[] = paths.map((p) => ({ kind: 'path', path: path.resolve(p) }));
      return startNewImport(studio, project, sources);
    },

    async pendingImports() {
      return pendingImports(session.requireProject().db);
    },

    async resumeImport({ importId }) {
      const project = requireWritable(session.requireProject());
      requirePending(project.db, importId);
      return startImportJob(studio, project, importId);
    },

    async discardImport({ importId }) {
      discardImport(requireWritable(session.requireProject()), importId);
      return null;
    },

    async importReport({ importId }) {
      return importReport(session.requireProject().db, importId);
    },

    async beginUpload() {
      if (studio.host.mode !== 'browser') {
        throw new LoupeError('NOT_SUPPORTED', 'The desktop window imports dropped files from their paths (importPaths).');
      }
      const uploadId = studio.uploads.begin(requireWritable(session.requireProject()));
      return { uploadId, url: `${UPLOAD_ROUTE}${uploadId}`, maxFileBytes: MAX_UPLOAD_FILE_BYTES };
    },

    async importUpload({ uploadId }) {
      const project = requireWritable(session.requireProject());
      studio.uploads.get(uploadId, project);
      const started = startNewImport(studio, project, [{ kind: 'upload', uploadId }]);
      studio.uploads.close(uploadId);
      return started;
    },

    async discardUpload({ uploadId }) {
      studio.uploads.get(uploadId, session.requireProject());
      studio.uploads.discard(uploadId);
      return null;
    },

    async createSampleProject({ path: dir, kind }) {
      const project = studio.acquire(projectRootOf(dir), session, { name: SAMPLE_NAME });
      setSplitSeed(project.db, SAMPLE_SPLIT_SEED);
      const summary = openedForSession(session, project);
      const started = startNewImport(studio, project, [{ kind: 'sample', sample: kind }]);
      return { project: summary, ...started };
    },
  };
}
