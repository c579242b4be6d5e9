import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { Committer } from '../src/main/services/import/commit';
import { createImport } from '../src/main/services/import';
import { Project } from '../src/main/store/project';
const dir = fs.mkdtempSync('/var/tmp/commit-');
const project = Project.create(path.join(dir, 'p.loupe'));
const id = createImport(project.db, [{ kind: 'path', path: '/x' }]);
const c = new Committer(project.db, id);
const N = 60000, B = 512;
const entries = Array.from({ length: N }, (_, i) => ({
  item: { index: i, key: `/tmp/cifar10/train/class${i % 10}/${String(i).padStart(5, '0')}.jpg`, file: '', name: `${i}.jpg`, label: `class${i % 10}`, split: (i % 6 === 0 ? 'test' : 'train') as 'test' | 'train' },
  result: { i, ok: true as const, duplicate: false as const, hash: createHash('sha256').update(String(i)).digest('hex'), format: 'jpeg' as const, width: 32, height: 32, channels: 3, bytes: 1500 },
}));
const t = performance.now();
for (let b = 0; b < N; b += B) project.db.transaction(() => c.batch(entries.slice(b, b + B)))();
const ms = performance.now() - t;
console.log(`commit: ${(ms / N * 1000).toFixed(1)} us/image, total ${(ms / 1000).toFixed(2)} s`);
project.close(); fs.rmSync(dir, { recursive: true });
