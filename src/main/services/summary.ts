import type { ClassCount, ProjectSummary, Split } from '../../shared/types';
import type { Project } from '../store/project';

// The summary is recomputed after every labeling keystroke, so each query here walks a
// covering index; only when images have been removed does counting labels need the join.

export function classCounts(project: Project): ClassCount[] {
  const db = project.db;
  const anyRemoved = db.prepare('SELECT 1 FROM images INDEXED BY images_removed WHERE removed_at IS NOT NULL LIMIT 1').get();
  const counts = new Map(
    (anyRemoved
      ? db.prepare(
          `SELECT l.class_id AS id, count(*) AS n FROM labels l JOIN images i ON i.id = l.image_id
            WHERE i.removed_at IS NULL GROUP BY l.class_id`,
        )
      : db.prepare('SELECT class_id AS id, count(*) AS n FROM labels GROUP BY class_id')
    )
      .all()
      .map((r) => [(r as { id: number }).id, (r as { n: number }).n]),
  );
  const classes = db.prepare('SELECT id, name, color, position FROM classes ORDER BY position, id').all() as Omit<ClassCount, 'count'>[];
  return classes.map((c) => ({ ...c, count: counts.get(c.id) ?? 0 }));
}

export function projectSummary(project: Project): ProjectSummary {
  const db = project.db;
  const splits: Record<Split, number> = { train: 0, val: 0, test: 0 };
  const rows = db
    .prepare('SELECT split, count(*) AS n FROM images INDEXED BY images_live_split WHERE removed_at IS NULL GROUP BY split')
    .all() as { split: Split; n: number }[];
  for (const row of rows) splits[row.split] = row.n;
  const images = splits.train + splits.val + splits.test;
  const classes = classCounts(project);
  const labeled = classes.reduce((sum, c) => sum + c.count, 0);
  return {
    path: project.root,
    name: project.name,
    key: project.key,
    schemaVersion: project.schemaVersion,
    readOnly: project.readOnly,
    images,
    labeled,
    unlabeled: images - labeled,
    classes,
    splits,
  };
}
