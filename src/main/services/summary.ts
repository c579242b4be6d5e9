import type { ClassCount, ProjectSummary, Split } from '../../shared/types';
import type { Project } from '../store/project';

export function classCounts(project: Project): ClassCount[] {
  return project.db
    .prepare(
      `SELECT c.id, c.name, c.color, c.position,
              (SELECT count(*) FROM labels l JOIN images i ON i.id = l.image_id
                WHERE l.class_id = c.id AND i.removed_at IS NULL) AS count
         FROM classes c ORDER BY c.position, c.id`,
    )
    .all() as ClassCount[];
}

export function projectSummary(project: Project): ProjectSummary {
  const db = project.db;
  const splits: Record<Split, number> = { train: 0, val: 0, test: 0 };
  const rows = db
    .prepare('SELECT split, count(*) AS n FROM images WHERE removed_at IS NULL GROUP BY split')
    .all() as { split: Split; n: number }[];
  for (const row of rows) splits[row.split] = row.n;
  const images = splits.train + splits.val + splits.test;
  const { labeled } = db
    .prepare(
      `SELECT count(*) AS labeled FROM labels l JOIN images i ON i.id = l.image_id
        WHERE i.removed_at IS NULL`,
    )
    .get() as { labeled: number };
  return {
    path: project.root,
    name: project.name,
    key: project.key,
    schemaVersion: project.schemaVersion,
    readOnly: project.readOnly,
    images,
    labeled,
    unlabeled: images - labeled,
    classes: classCounts(project),
    splits,
  };
}
