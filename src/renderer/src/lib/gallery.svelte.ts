// The labeling gallery's state: which images the filter matches (their ids, in order), the
// items fetched so far, focus and selection, and the labeling actions. Labels are applied to
// the local items at once and confirmed by the core; a failed save puts them back.

import { SvelteMap, SvelteSet } from 'svelte/reactivity';
import type { ImageFilter, ImageItem, ImagesChanged, Split, UndoState } from '../../../shared/types';
import { api, errorMessage } from './client';
import { mergeIds } from './id-lists';
import { metrics } from './metrics';
import { toasts } from './toasts.svelte';

const FETCH_CHUNK = 300;
/** Items fetched ahead of the focus, so "next unlabeled" is found locally at typing speed. */
const LOOKAHEAD = 600;

export interface GalleryOptions {
  /** The ordered ids of a filter; by default the project's images in import order. */
  ids?: (filter: ImageFilter) => Promise<number[]>;
  /**
   * Where focus goes after labeling: the next unlabeled image (labeling), or simply the next
   * one (reviewing a model's mistakes, where every image is labeled).
   */
  advance?: 'unlabeled' | 'next';
}

export class Gallery {
  // Raw (not deeply proxied) state: the id list is replaced, never mutated, and a proxy over
  // 60,000 numbers would make every indexOf create thousands of signals.
  filter = $state.raw<ImageFilter>({});
  ids = $state.raw<number[]>([]);
  /** Items by id; a missing id is not fetched yet. Each cell tracks only its own key. */
  readonly items = new SvelteMap<number, ImageItem>();
  focus = $state(0);
  selection = new SvelteSet<number>();
  /** The index shift-click and shift-arrows extend from. */
  anchor = $state(0);
  loading = $state(false);
  undoState = $state.raw<UndoState>({ undo: null, redo: null });
  /**
   * Ids in the list whose item no longer matches the filter (labeled in the Unlabeled view, say).
   * They stay in place until the list is reloaded, so nothing jumps away while labeling, but
   * they are not counted among the images the filter matches.
   */
  readonly leftFilter = new SvelteSet<number>();

  // eslint-disable-next-line svelte/prefer-svelte-reactivity -- bookkeeping, not UI state
  #pending = new Set<number>();
  #generation = 0;
  /** Settles when the last labeling's focus move has: the next labeling waits for it. */
  #focusMoved: Promise<void> = Promise.resolve();
  readonly #options: GalleryOptions;

  constructor(options: GalleryOptions = {}) {
    this.#options = options;
  }

  get focusedId(): number | undefined {
    return this.ids[this.focus];
  }

  /** How many images of the list the filter matches now. */
  get matching(): number {
    return this.ids.length - this.leftFilter.size;
  }

  get focusedItem(): ImageItem | undefined {
    const id = this.focusedId;
    return id === undefined ? undefined : this.items.get(id);
  }

  #idsOf(filter: ImageFilter): Promise<number[]> {
    return (this.#options.ids ?? ((f: ImageFilter) => api.imageIds({ filter: f })))(filter);
  }

  async load(filter: ImageFilter = this.filter, keepFocus = false): Promise<void> {
    const generation = ++this.#generation;
    const focusedId = keepFocus ? this.focusedId : undefined;
    this.filter = filter;
    this.loading = true;
    try {
      const ids = await this.#idsOf(filter);
      if (generation !== this.#generation) return;
      this.ids = ids;
      this.items.clear();
      this.leftFilter.clear();
      this.#pending.clear();
      const kept = focusedId === undefined ? -1 : ids.indexOf(focusedId);
      this.focus = kept >= 0 ? kept : 0;
      this.anchor = this.focus;
      this.ensure(this.focus, this.focus + LOOKAHEAD);
      this.selection.clear();
      this.undoState = await api.undoState();
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
    } finally {
      if (generation === this.#generation) this.loading = false;
    }
  }

  /**
   * After a dropped connection came back: the list, its items and the undo state again (another
   * window may have changed them meanwhile), keeping the focus and the selection that still exist.
   */
  async resync(): Promise<void> {
    const selected = [...this.selection];
    await this.load(this.filter, true);
    // eslint-disable-next-line svelte/prefer-svelte-reactivity -- a lookup, not UI state
    const listed = new Set(this.ids);
    for (const id of selected) if (listed.has(id)) this.selection.add(id);
  }

  /** Makes sure the items from index `start` to `end` (exclusive) are fetched. */
  ensure(start: number, end: number): void {
    const missing: number[] = [];
    for (let i = Math.max(0, start); i < Math.min(end, this.ids.length); i++) {
      const id = this.ids[i];
      if (!this.items.has(id) && !this.#pending.has(id)) missing.push(id);
    }
    for (let i = 0; i < missing.length; i += FETCH_CHUNK) void this.#fetch(missing.slice(i, i + FETCH_CHUNK));
  }

  async #fetch(ids: number[]): Promise<void> {
    const generation = this.#generation;
    ids.forEach((id) => this.#pending.add(id));
    try {
      const items = await api.imagesById({ ids });
      if (generation !== this.#generation) return;
      for (const item of items) this.#set(item);
      // Asked for but not returned: removed (perhaps in another window). Drop them from the list.
      if (items.length < ids.length) {
        const found = items.map((i) => i.id);
        const gone = ids.filter((id) => !found.includes(id));
        const focusedId = this.focusedId;
        this.ids = this.ids.filter((id) => !gone.includes(id));
        gone.forEach((id) => this.leftFilter.delete(id));
        const at = focusedId === undefined ? -1 : this.ids.indexOf(focusedId);
        this.focus = at >= 0 ? at : Math.min(this.focus, Math.max(0, this.ids.length - 1));
      }
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
    } finally {
      ids.forEach((id) => this.#pending.delete(id));
    }
  }

  /** Stores a fetched or changed item, noting whether it still matches the filter. */
  #set(item: ImageItem): void {
    this.items.set(item.id, item);
    const f = this.filter;
    const matches =
      (!f.unlabeled || item.classId === null) && (f.classId === undefined || item.classId === f.classId) && (!f.split || item.split === f.split);
    if (matches) this.leftFilter.delete(item.id);
    else this.leftFilter.add(item.id);
  }

  // ---- focus and selection ------------------------------------------------------------------

  moveFocus(index: number, extend = false): void {
    if (this.ids.length === 0) return;
    this.focus = Math.max(0, Math.min(this.ids.length - 1, index));
    // Chunk-aligned, so typing through images fetches a block now and then, not one per key.
    this.ensure(this.focus, Math.ceil((this.focus + LOOKAHEAD) / FETCH_CHUNK) * FETCH_CHUNK);
    if (extend) this.selectRange(this.anchor, this.focus);
    else this.anchor = this.focus;
  }

  click(index: number, event: { shiftKey: boolean; ctrlKey: boolean; metaKey: boolean }): void {
    const id = this.ids[index];
    if (event.shiftKey) {
      this.focus = index;
      this.selectRange(this.anchor, index);
    } else if (event.ctrlKey || event.metaKey) {
      if (this.selection.has(id)) this.selection.delete(id);
      else this.selection.add(id);
      this.focus = index;
      this.anchor = index;
    } else {
      this.selection.clear();
      this.focus = index;
      this.anchor = index;
    }
  }

  selectRange(from: number, to: number): void {
    const [a, b] = from <= to ? [from, to] : [to, from];
    this.selection.clear();
    for (let i = a; i <= b; i++) this.selection.add(this.ids[i]);
  }

  selectAll(): void {
    for (const id of this.ids) this.selection.add(id);
  }

  clearSelection(): void {
    this.selection.clear();
  }

  /** What an action applies to: the selection, or else the focused image. */
  targets(): number[] {
    if (this.selection.size > 0) return this.ids.filter((id) => this.selection.has(id));
    const id = this.focusedId;
    return id === undefined ? [] : [id];
  }

  // ---- actions ------------------------------------------------------------------------------

  /** Changes the fetched items at once; returns them as they were, for #restore. */
  #patch(ids: number[], change: (item: ImageItem) => ImageItem): ImageItem[] {
    const before: ImageItem[] = [];
    for (const id of ids) {
      const item = this.items.get(id);
      if (!item) continue;
      before.push(item);
      this.#set(change(item));
    }
    return before;
  }

  #restore(before: ImageItem[]): void {
    for (const item of before) this.#set(item);
  }

  /**
   * Labels the targets (null removes the label), then moves focus to the next unlabeled image.
   * `startedAt` is the keydown's timestamp, for the save-and-repaint latency figure.
   */
  async label(classId: number | null, startedAt = performance.now(), source: 'user' | 'suggestion' = 'user'): Promise<void> {
    const moved = await this.#turn();
    const targets = this.targets();
    if (targets.length === 0) return moved();
    const lastIndex = Math.max(...targets.map((id) => this.ids.indexOf(id)));
    const before = this.#patch(targets, (item) => ({ ...item, classId, labelSource: classId === null ? null : source }));
    const painted = metrics.nextPaint();
    const bulk = this.selection.size > 0;
    this.selection.clear();
    if (classId !== null) this.#next(lastIndex).finally(moved);
    else moved();
    try {
      const result = await api.setLabel({ imageIds: targets, classId, ...(source === 'user' ? {} : { source }) });
      const savedAt = performance.now();
      this.undoState = result.undo;
      metrics.record(bulk ? 'bulkLabelSaved' : 'labelSaved', savedAt - startedAt);
      metrics.record(bulk ? 'bulkLabel' : 'label', Math.max(savedAt, await painted) - startedAt);
      await this.#refetchUnpatched(targets, before);
    } catch (err) {
      this.#restore(before);
      toasts.show(errorMessage(err), 'error');
    }
  }

  /**
   * Labels images with the classes a model gave them (accepting suggestions), through `save`,
   * which returns the change. Images `classOf` has no class for are left alone. Like label(),
   * the grid shows the labels at once and focus moves on. Returns how many were sent.
   */
  async accept(
    classOf: (id: number) => number | undefined,
    save: (ids: number[]) => Promise<ImagesChanged>,
    source: 'suggestion' | 'check' = 'suggestion',
  ): Promise<number> {
    const moved = await this.#turn();
    const targets = this.targets().filter((id) => classOf(id) !== undefined);
    if (targets.length === 0) {
      moved();
      return 0;
    }
    const lastIndex = Math.max(...targets.map((id) => this.ids.indexOf(id)));
    const before = this.#patch(targets, (item) => ({ ...item, classId: classOf(item.id)!, labelSource: source }));
    this.selection.clear();
    this.#next(lastIndex).finally(moved);
    try {
      this.undoState = (await save(targets)).undo;
      await this.#refetchUnpatched(targets, before);
    } catch (err) {
      this.#restore(before);
      toasts.show(errorMessage(err), 'error');
    }
    return targets.length;
  }

  /**
   * Waits for the previous labeling to move focus on, then returns what this one calls once its
   * own focus move is done. So a key typed before focus moved (the next unlabeled image may be
   * asked of the core) labels the next image, not the one just labeled again.
   */
  async #turn(): Promise<() => void> {
    const previous = this.#focusMoved;
    let done!: () => void;
    this.#focusMoved = new Promise((resolve) => (done = resolve));
    await previous;
    return done;
  }

  /**
   * Targets that were not fetched yet when labeled could not be changed locally, and a fetch
   * sent before the save returns them as they were: fetch those again now that the save is done.
   */
  async #refetchUnpatched(targets: number[], patched: ImageItem[]): Promise<void> {
    const done = new Set(patched.map((item) => item.id)); // eslint-disable-line svelte/prefer-svelte-reactivity -- a local lookup
    const again = targets.filter((id) => !done.has(id) && (this.items.has(id) || this.#pending.has(id)));
    if (again.length > 0) await this.#fetch(again);
  }

  /** Moves focus on after labeling up to `index`; never rejects (a failed lookup leaves focus). */
  #next(index: number): Promise<void> {
    if (this.#options.advance === 'next') {
      this.moveFocus(index + 1);
      return Promise.resolve();
    }
    return this.#advance(index);
  }

  /** Focus the next unlabeled image after `index` (known locally, else asked of the core). */
  async #advance(index: number): Promise<void> {
    for (let i = index + 1; i < this.ids.length; i++) {
      const item = this.items.get(this.ids[i]);
      if (!item) break;
      if (item.classId === null) return this.moveFocus(i);
    }
    const afterId = this.ids[index];
    let next: number | null;
    try {
      next = await api.nextUnlabeled({ filter: this.filter, afterId });
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
      return;
    }
    const at = next === null ? -1 : this.ids.indexOf(next, index + 1);
    if (at >= 0) this.moveFocus(at);
    else if (index + 1 < this.ids.length) this.moveFocus(index + 1);
  }

  async moveToSplit(split: Split): Promise<void> {
    const targets = this.targets();
    if (targets.length === 0) return;
    const before = this.#patch(targets, (item) => ({ ...item, split }));
    try {
      this.undoState = (await api.moveToSplit({ imageIds: targets, split })).undo;
    } catch (err) {
      this.#restore(before);
      toasts.show(errorMessage(err), 'error');
    }
  }

  async remove(): Promise<void> {
    const targets = this.targets();
    if (targets.length === 0) return;
    try {
      const result = await api.removeImages({ imageIds: targets });
      this.undoState = result.undo;
      const gone = new Set(targets); // eslint-disable-line svelte/prefer-svelte-reactivity -- a local lookup
      this.ids = this.ids.filter((id) => !gone.has(id));
      gone.forEach((id) => this.leftFilter.delete(id));
      this.selection.clear();
      this.moveFocus(Math.min(this.focus, this.ids.length - 1));
      toasts.show(`${result.imageIds?.length ?? targets.length} removed. Undo with Ctrl+Z.`);
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
    }
  }

  async undo(): Promise<void> {
    await this.#history('undo', () => api.undo());
  }

  async redo(): Promise<void> {
    await this.#history('redo', () => api.redo());
  }

  /** Undo or redo; the list changes only where the step did, and a toast says what it was. */
  async #history(direction: 'undo' | 'redo', call: () => Promise<ImagesChanged>): Promise<void> {
    try {
      const result = await call();
      this.undoState = result.undo;
      if (result.imageIds === null) await this.load(this.filter, true);
      else if (result.imageIds.length > 0) {
        await this.#mergeFresh();
        await this.applyChange(result);
      }
      this.#sayStep(direction, result);
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
    }
  }

  /** Adds what the filter matches now (an undone removal brings images back), keeping the rest. */
  async #mergeFresh(): Promise<void> {
    const generation = this.#generation;
    const fresh = await this.#idsOf(this.filter);
    if (generation !== this.#generation) return;
    const focusedId = this.focusedId;
    this.ids = mergeIds(this.ids, fresh);
    const at = focusedId === undefined ? -1 : this.ids.indexOf(focusedId);
    this.focus = at >= 0 ? at : Math.min(this.focus, Math.max(0, this.ids.length - 1));
    this.anchor = this.focus;
  }

  #sayStep(direction: 'undo' | 'redo', result: ImagesChanged): void {
    const step = result.history;
    if (!step) {
      toasts.show(`Nothing to ${direction}.`, 'info', { key: 'history' });
      return;
    }
    const what = step.summary.charAt(0).toLowerCase() + step.summary.slice(1);
    const undid = step.direction === 'undo';
    toasts.show(`${undid ? 'Undid' : 'Redid'}: ${what}`, 'info', {
      key: 'history',
      ms: 6000,
      action: undid ? { label: 'Redo', run: () => void this.redo() } : { label: 'Undo', run: () => void this.undo() },
    });
  }

  /**
   * Brings the fetched items up to date after a change (from this window or another). The id
   * list itself stays as it is, so images do not jump away while someone labels them, unless
   * images may have been added or removed.
   */
  async applyChange(change: ImagesChanged, refilter = false): Promise<void> {
    this.undoState = change.undo;
    if (change.imageIds === null || refilter) {
      if (change.imageIds === null || change.imageIds.length > 0) await this.load(this.filter, true);
      return;
    }
    const stale = change.imageIds.filter((id) => this.items.has(id));
    if (stale.length === 0) return;
    if (stale.length > 2 * FETCH_CHUNK) {
      // Drop them; the grid fetches what comes into view.
      stale.forEach((id) => this.items.delete(id));
      return;
    }
    await this.#fetch(stale);
  }
}
