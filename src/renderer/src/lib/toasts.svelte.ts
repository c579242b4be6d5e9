export interface ToastAction {
  label: string;
  run: () => void;
}

export interface Toast {
  id: number;
  kind: 'error' | 'info';
  text: string;
  action?: ToastAction;
  /** A toast shown with the key of one on screen replaces it (repeated undo says only the latest). */
  key?: string;
}

interface ShowOptions {
  ms?: number;
  action?: ToastAction;
  key?: string;
}

class Toasts {
  items = $state<Toast[]>([]);
  #next = 1;

  show(text: string, kind: Toast['kind'] = 'info', options: number | ShowOptions = {}): void {
    const { ms = kind === 'error' ? 8000 : 3500, action, key } = typeof options === 'number' ? { ms: options } : options;
    const id = this.#next++;
    const toast: Toast = { id, kind, text, action, key };
    const replaced = key === undefined ? -1 : this.items.findIndex((t) => t.key === key);
    if (replaced >= 0) this.items[replaced] = toast;
    else this.items.push(toast);
    setTimeout(() => this.dismiss(id), ms);
  }

  dismiss(id: number): void {
    this.items = this.items.filter((t) => t.id !== id);
  }

  reset(): void {
    this.items = [];
  }
}

export const toasts = new Toasts();
