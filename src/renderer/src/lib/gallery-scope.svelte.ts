// A set of images the Label view's gallery is limited to, chosen elsewhere (the map's lasso:
// "Open in gallery"). The gallery's own filters still apply within it; Show all lifts it.

import { onLeaveProject } from './project-scope';

class GalleryScope {
  /** The chosen image ids, or null: the whole project. */
  ids = $state.raw<ReadonlySet<number> | null>(null);
  /** Where the images were chosen, for the banner ("the map"). */
  source = $state('');

  constructor() {
    onLeaveProject(() => this.clear());
  }

  set(ids: number[], source: string): void {
    this.ids = new Set(ids);
    this.source = source;
  }

  clear(): void {
    this.ids = null;
    this.source = '';
  }

  /** The ids of `all` (in their order) within the scope. */
  within(all: number[]): number[] {
    const ids = this.ids;
    return ids ? all.filter((id) => ids.has(id)) : all;
  }
}

export const galleryScope = new GalleryScope();
