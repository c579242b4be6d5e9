// What a typed path on the machine Loupe runs on is (exists, folder, project, inside a project),
// checked shortly after it stops changing. A picker asks for the answer about exactly the path
// it shows, so a stale answer about another path never enables its button.

import type { PathInfo } from '../../../shared/types';
import { api } from './client';

export class PathCheck {
  #path = $state<string | null>(null);
  #info = $state<PathInfo | null>(null);
  #seq = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** What `path` is, or null while it is being checked (or when it is empty). */
  infoFor(path: string): PathInfo | null {
    return path !== '' && this.#path === path ? this.#info : null;
  }

  /** Checks `path` after a short pause; call it whenever the path changes. */
  check(path: string): void {
    clearTimeout(this.#timer);
    const seq = ++this.#seq;
    if (path === '') return;
    this.#timer = setTimeout(() => {
      api.pathInfo({ path }).then(
        (info) => {
          if (seq !== this.#seq) return;
          this.#path = path;
          this.#info = info;
        },
        () => {},
      );
    }, 120);
  }

  /** Checks `path` again at once (after something was created or changed there). */
  recheck(path: string): void {
    this.#path = null;
    this.check(path);
  }
}
