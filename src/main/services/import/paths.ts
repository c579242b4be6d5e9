// Transient files inside a project: import temp files (written beside their final name in
// media/ and thumbs/, swept at every open and import) and upload staging (kept while an import
// of it may still be resumed).

import fs from 'node:fs';
import path from 'node:path';

export const TEMP_SUFFIX = '.part';

/**
 * Deletes import temp files a killed or cancelled import left in media/ and thumbs/. (They are
 * written in the folder of their final name: see MediaWriter.) Returns how many it deleted.
 */
export function sweepTempFiles(root: string): number {
  let removed = 0;
  for (const top of ['media', 'thumbs']) {
    let shards: string[];
    try {
      shards = fs.readdirSync(path.join(root, top));
    } catch {
      continue;
    }
    for (const shard of shards) {
      const dir = path.join(root, top, shard);
      let names: string[];
      try {
        names = fs.readdirSync(dir);
      } catch {
        continue;
      }
      for (const name of names) {
        if (!name.endsWith(TEMP_SUFFIX)) continue;
        fs.rmSync(path.join(dir, name), { force: true });
        removed++;
      }
    }
  }
  return removed;
}
export const uploadsDir = (root: string) => path.join(root, 'tmp', 'uploads');
export const uploadDir = (root: string, uploadId: string) => {
  if (!/^[0-9a-f]{32}$/.test(uploadId)) throw new Error('Bad upload id.');
  return path.join(uploadsDir(root), uploadId);
};
