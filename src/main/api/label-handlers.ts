import type { LoupeApi } from '../../shared/api';
import type { ImagesChanged, ProjectSummary } from '../../shared/types';
import * as history from '../services/history';
import * as labeling from '../services/labeling';
import { projectSummary, summaryAfterRelabel } from '../services/summary';
import { requireWritable } from '../store/project';
import type { Session } from './studio';

type LabelApi = Pick<
  LoupeApi,
  | 'imageIds'
  | 'nextUnlabeled'
  | 'imagesById'
  | 'imageDetails'
  | 'setLabel'
  | 'moveToSplit'
  | 'removeImages'
  | 'createClass'
  | 'updateClass'
  | 'reorderClasses'
  | 'mergeClasses'
  | 'deleteClass'
  | 'undo'
  | 'redo'
  | 'undoState'
>;

const BULK = 500;

/**
 * Tells the other windows on the project which images changed (the caller has the result),
 * and every window the new counts.
 */
export function imagesChanged(session: Session, imageIds: number[] | null, summary?: ProjectSummary): ImagesChanged {
  const project = session.requireProject();
  // A large change leaves a long WAL behind, which slows every later read: fold it in now.
  if (imageIds === null || imageIds.length > BULK) project.checkpoint();
  const result: ImagesChanged = { imageIds, undo: history.undoState(project.db) };
  session.studio.emitToProject(project, 'onImagesChanged', result, session);
  session.studio.emitToProject(project, 'onProjectChanged', summary ?? projectSummary(project));
  return result;
}

export function labelHandlers(session: Session): LabelApi {
  const db = () => requireWritable(session.requireProject(), 'changes cannot be saved').db;
  const changed = (imageIds: number[] | null, summary?: ProjectSummary): ImagesChanged => imagesChanged(session, imageIds, summary);
  /** Undo or redo, saying which action it was, so the window can tell the user. */
  const stepped = (direction: 'undo' | 'redo'): ImagesChanged => {
    const step = history.step(db(), direction);
    if (!step) return changed([]);
    return { ...changed(history.touchedImages(step.ops)), history: { direction, summary: step.summary } };
  };

  return {
    async imageIds({ filter }) {
      return labeling.imageIds(session.requireProject().db, filter);
    },
    async nextUnlabeled({ filter, afterId }) {
      return labeling.nextUnlabeled(session.requireProject().db, filter, afterId);
    },
    async imagesById({ ids }) {
      return labeling.imagesById(session.requireProject().db, ids);
    },
    async imageDetails({ id }) {
      return labeling.imageDetails(session.requireProject().db, id);
    },
    async setLabel({ imageIds, classId, source }) {
      const project = requireWritable(session.requireProject(), 'changes cannot be saved');
      const before = projectSummary(project);
      const changes = labeling.setLabel(project.db, imageIds, classId, source);
      const after = summaryAfterRelabel(project, before, changes, classId);
      return changed(
        changes.map((c) => c.id),
        after,
      );
    },
    async moveToSplit({ imageIds, split }) {
      return changed(labeling.moveToSplit(db(), imageIds, split));
    },
    async removeImages({ imageIds }) {
      return changed(labeling.removeImages(db(), imageIds));
    },
    async createClass({ name, color }) {
      const classId = labeling.createClass(db(), name, color);
      return { ...changed([]), classId };
    },
    async updateClass({ id, name, color }) {
      labeling.updateClass(db(), id, { name, color });
      return changed([]);
    },
    async reorderClasses({ ids }) {
      labeling.reorderClasses(db(), ids);
      return changed([]);
    },
    async mergeClasses({ sourceIds, targetId }) {
      return changed(labeling.mergeClasses(db(), sourceIds, targetId));
    },
    async deleteClass({ id }) {
      return changed(labeling.deleteClass(db(), id));
    },
    async undo() {
      return stepped('undo');
    },
    async redo() {
      return stepped('redo');
    },
    async undoState() {
      return history.undoState(session.requireProject().db);
    },
  };
}
