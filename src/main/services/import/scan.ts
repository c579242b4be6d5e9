// Finding what to import and how it is laid out. A folder is read as:
//  - split folders: subfolders named train, val/valid/validation or test (any case), each holding
//    class folders (`train/cat/1.jpg`) or images (unlabeled, in that split);
//  - class folders: each subfolder is a class, with images at any depth below it;
//  - images directly in the folder: unlabeled.
// A folder that holds nothing but one split-layout folder (a dataset unpacked into a folder of
// its own) is read as that folder. Files are CSVs of `path,label` (by the .csv extension) or
// images. Everything found gets either an item (to be read) or a skip with a reason; nothing
// found is dropped silently except hidden and system files.

import fs from 'node:fs';
import path from 'node:path';
import type { Split } from '../../../shared/types';
import { normalizeClassName } from '../classes';
import { splitOfFolder } from '../splits';
import { csvRows } from './csv';
import { decodeName, escapeName, oddCharacters, oddNameReason, type NameKind } from './names';
import { fsErrorReason } from '../pixels/decode-reasons';

export interface ScanRoot {
  /** A folder, an image file or a CSV. */
  path: string;
  /**
   * Uploads: paths are shown relative to this folder, and CSV rows may not point outside it.
   * Otherwise paths are shown absolute.
   */
  base?: string;
  /** Refuse this source with this reason (e.g. a folder inside the project itself). */
  refuse?: string;
  /** Files made in memory (the sample project): `path` is then only a name for the source. */
  files?: readonly { name: string; label: string | null; bytes: Uint8Array }[];
}

export interface ScanItem {
  /** Position in the scan: fixes the order of work and of commits, so a resumed import matches. */
  index: number;
  /** The path as shown and recorded (absolute, or relative for uploads). */
  key: string;
  /** Where to read it, or its bytes when it was made in memory. */
  file: string;
  bytes?: Uint8Array;
  name: string;
  label: string | null;
  split: Split | null;
}

export interface ScanSkip {
  key: string;
  reason: string;
}

export interface Scan {
  items: ScanItem[];
  skipped: ScanSkip[];
}

const IGNORED = new Set(['thumbs.db', 'desktop.ini', '__macosx', '$recycle.bin', 'system volume information']);
const MAX_DEPTH = 64;
const MAX_CSV_BYTES = 256 * 1024 * 1024;

interface Entry {
  name: string;
  file: string;
}

export async function scanSources(roots: readonly ScanRoot[]): Promise<Scan> {
  const scanner = new Scanner();
  // CSVs first: an image both listed in a CSV and found in a folder gets the CSV's label.
  const ordered = [...roots.filter((r) => isCsv(r.path)), ...roots.filter((r) => !isCsv(r.path))];
  for (const root of ordered) await scanner.root(root);
  return { items: scanner.items, skipped: scanner.skipped };
}

const isCsv = (file: string) => path.extname(file).toLowerCase() === '.csv';
const className = (name: string): string | null => normalizeClassName(name) || null;

class Scanner {
  readonly items: ScanItem[] = [];
  readonly skipped: ScanSkip[] = [];
  readonly #keys = new Set<string>();
  readonly #visited = new Set<string>();
  #base: string | undefined;

  show(file: string): string {
    return this.#base ? path.relative(this.#base, file).split(path.sep).join('/') : file;
  }

  skip(key: string, reason: string): void {
    if (this.#keys.has(key)) return;
    this.#keys.add(key);
    this.skipped.push({ key, reason });
  }

  add(file: string, label: string | null, split: Split | null, bytes?: Uint8Array): void {
    const key = bytes ? file : this.show(file);
    if (this.#keys.has(key)) return; // named twice (a folder and a file in it): once is enough
    this.#keys.add(key);
    this.items.push({ index: this.items.length, key, file, name: path.basename(file), label, split, ...(bytes ? { bytes } : {}) });
  }

  async root(root: ScanRoot): Promise<void> {
    this.#base = root.base;
    this.#visited.clear();
    if (root.files) {
      for (const f of root.files) this.add(f.name, f.label === null ? null : className(f.label), null, f.bytes);
      return;
    }
    const file = path.resolve(root.path);
    if (root.refuse) return this.skip(escapeName(this.show(file)), root.refuse);
    const odd = oddCharacters(path.basename(file));
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(file);
    } catch (err) {
      return this.skip(escapeName(this.show(file)), fsErrorReason(err));
    }
    if (odd) return this.skip(escapeName(this.show(file)), oddNameReason(stat.isDirectory() ? 'folder' : 'file', odd));
    if (stat.isDirectory() && fs.existsSync(path.join(file, 'project.db'))) {
      return this.skip(this.show(file), 'A Loupe project folder: its images are not imported from here (open it, or export from it).');
    }
    if (stat.isDirectory()) return this.folder(file, 0);
    if (!stat.isFile()) return this.skip(this.show(file), 'Not a regular file (a device, socket or pipe).');
    if (isCsv(file)) return this.csv(file);
    this.add(file, null, null);
  }

  /** The folder's subfolders and files, sorted; odd and special entries are skipped here. */
  async list(dir: string, depth: number): Promise<{ dirs: Entry[]; files: Entry[] }> {
    const dirs: Entry[] = [];
    const files: Entry[] = [];
    if (depth > MAX_DEPTH) {
      this.skip(this.show(dir), `Folders nested more than ${MAX_DEPTH} deep are not read.`);
      return { dirs, files };
    }
    const real = await fs.promises.realpath(dir).catch(() => dir);
    if (this.#visited.has(real)) {
      this.skip(this.show(dir), 'A symbolic link loop: this folder was already read.');
      return { dirs, files };
    }
    this.#visited.add(real);
    let dirents: fs.Dirent<Buffer>[];
    try {
      dirents = await fs.promises.readdir(dir, { withFileTypes: true, encoding: 'buffer' });
    } catch (err) {
      this.skip(this.show(dir), fsErrorReason(err));
      return { dirs, files };
    }
    dirents.sort((a, b) => Buffer.compare(a.name, b.name));
    for (const d of dirents) {
      const { name, valid } = decodeName(d.name);
      const kind: NameKind = d.isDirectory() ? 'folder' : 'file';
      if (!valid) {
        this.skip(this.show(path.join(dir, name)), oddNameReason(kind, 'bytes that are not valid UTF-8'));
        continue;
      }
      if (name.startsWith('.') || IGNORED.has(name.toLowerCase())) continue;
      const file = path.join(dir, name);
      const odd = oddCharacters(name);
      if (odd) {
        this.skip(escapeName(this.show(file)), oddNameReason(kind, odd));
        continue;
      }
      let isDir = d.isDirectory();
      let isFile = d.isFile();
      if (d.isSymbolicLink()) {
        try {
          const target = await fs.promises.stat(file);
          isDir = target.isDirectory();
          isFile = target.isFile();
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          this.skip(this.show(file), code === 'ENOENT' ? 'A broken symbolic link: its target does not exist.' : fsErrorReason(err));
          continue;
        }
      }
      if (isDir && fs.existsSync(path.join(file, 'project.db'))) {
        this.skip(this.show(file), 'A Loupe project folder: its images are not imported from here (open it, or export from it).');
      } else if (isDir) dirs.push({ name, file });
      else if (!isFile) this.skip(this.show(file), 'Not a regular file (a device, socket or pipe).');
      else if (isCsv(name)) {
        this.skip(this.show(file), 'A CSV inside a folder is not read; import the CSV itself to use its labels.');
      } else files.push({ name, file });
    }
    return { dirs, files };
  }

  async folder(dir: string, depth: number): Promise<void> {
    const { dirs, files } = await this.list(dir, depth);
    if (dirs.some((d) => splitOfFolder(d.name))) {
      for (const d of dirs) {
        const split = splitOfFolder(d.name);
        if (split) await this.classFolders(d.file, split, depth + 1);
        else await this.tree(d.file, className(d.name), null, depth + 1);
      }
      for (const f of files) this.add(f.file, null, null);
      return;
    }
    if (dirs.length === 1 && files.length === 0 && (await this.isSplitLayout(dirs[0].file))) {
      this.#visited.delete(await fs.promises.realpath(dirs[0].file).catch(() => dirs[0].file));
      return this.folder(dirs[0].file, depth + 1);
    }
    for (const d of dirs) await this.tree(d.file, className(d.name), null, depth + 1);
    for (const f of files) this.add(f.file, null, null);
  }

  async isSplitLayout(dir: string): Promise<boolean> {
    try {
      const dirents = await fs.promises.readdir(dir, { withFileTypes: true });
      return dirents.some((d) => d.isDirectory() && splitOfFolder(d.name));
    } catch {
      return false;
    }
  }

  /** A split folder: its subfolders are classes; images directly in it are unlabeled. */
  async classFolders(dir: string, split: Split, depth: number): Promise<void> {
    const { dirs, files } = await this.list(dir, depth);
    for (const d of dirs) await this.tree(d.file, className(d.name), split, depth + 1);
    for (const f of files) this.add(f.file, null, split);
  }

  /** Every image below `dir`, at any depth, with one label. */
  async tree(dir: string, label: string | null, split: Split | null, depth: number): Promise<void> {
    const { dirs, files } = await this.list(dir, depth);
    for (const f of files) this.add(f.file, label, split);
    for (const d of dirs) await this.tree(d.file, label, split, depth + 1);
  }

  async csv(file: string): Promise<void> {
    const csvKey = this.show(file);
    let text: string;
    try {
      const stat = await fs.promises.stat(file);
      if (stat.size > MAX_CSV_BYTES) return this.skip(csvKey, 'The CSV is larger than 256 MB.');
      text = await fs.promises.readFile(file, 'utf8');
    } catch (err) {
      return this.skip(csvKey, fsErrorReason(err));
    }
    const dir = path.dirname(file);
    const rows = csvRows(text);
    if (rows.length === 0) return this.skip(csvKey, 'The CSV has no rows.');
    for (const row of rows) {
      const where = `${csvKey}:${row.line}`;
      if (!row.path) {
        this.skip(where, 'The row has no path.');
        continue;
      }
      const oddPath = oddCharacters(row.path);
      if (oddPath) {
        this.skip(escapeName(where), `The path contains ${oddPath}.`);
        continue;
      }
      const target = path.resolve(dir, row.path);
      if (this.#base && path.relative(this.#base, target).split(path.sep)[0] === '..') {
        this.skip(where, 'The path leads outside the uploaded files.');
        continue;
      }
      if (/[/\\]/.test(row.label)) {
        this.skip(where, 'The label contains a path separator (/ or \\); a label is a class name, not a path.');
        continue;
      }
      const oddLabel = oddCharacters(row.label);
      if (oddLabel) {
        this.skip(escapeName(where), `The label contains ${oddLabel}.`);
        continue;
      }
      const split = row.split ? splitOfFolder(row.split) : null;
      if (row.split && !split) {
        this.skip(where, `Unknown split "${row.split.slice(0, 40)}": use train, val or test.`);
        continue;
      }
      let stat: fs.Stats;
      try {
        stat = await fs.promises.stat(target);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        this.skip(this.show(target), code === 'ENOENT' ? `Listed in the CSV (line ${row.line}) but not found.` : fsErrorReason(err));
        continue;
      }
      if (!stat.isFile()) {
        this.skip(this.show(target), `Listed in the CSV (line ${row.line}) but not a file.`);
        continue;
      }
      if (this.#keys.has(this.show(target))) {
        this.skip(where, 'This file is listed more than once; the first row counts.');
        continue;
      }
      this.add(target, className(row.label), split);
    }
  }
}
