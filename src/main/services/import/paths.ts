// Transient folders inside a project: import temp files (deleted at every open and import) and
// upload staging (kept while an import of it may still be resumed).

import path from 'node:path';

export const importTempDir = (root: string) => path.join(root, 'tmp', 'import');
export const uploadsDir = (root: string) => path.join(root, 'tmp', 'uploads');
export const uploadDir = (root: string, uploadId: string) => {
  if (!/^[0-9a-f]{32}$/.test(uploadId)) throw new Error('Bad upload id.');
  return path.join(uploadsDir(root), uploadId);
};
