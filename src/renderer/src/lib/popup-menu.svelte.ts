// A button that opens a small menu (WAI-ARIA menu button): the one behaviour behind every popup
// menu in the window. Opening focuses the first item; arrows, Home and End move; Escape closes
// and gives the focus back to the button; Tab or a click elsewhere closes. Keys never reach the
// gallery while a menu is open (a number key there would label the focused image).

import { tick } from 'svelte';

const ITEMS = '[role=menuitem]:not(:disabled)';

export class PopupMenu {
  open = $state(false);
  /** The element holding the button and the menu (for clicks outside). */
  root: HTMLElement | undefined = undefined;
  button: HTMLElement | undefined = undefined;

  async show(): Promise<void> {
    this.open = true;
    await tick();
    this.root?.querySelector<HTMLElement>(ITEMS)?.focus();
  }

  close(refocus = true): void {
    this.open = false;
    if (refocus) this.button?.focus();
  }

  toggle(): void {
    if (this.open) this.close();
    else void this.show();
  }

  /** The menu's keydown: `shortcut` may pick an item by its own key first (returns true if it did). */
  keydown(e: KeyboardEvent, shortcut?: (key: string) => boolean): void {
    const items = [...(this.root?.querySelectorAll<HTMLElement>(ITEMS) ?? [])];
    const at = items.indexOf(document.activeElement as HTMLElement);
    let handled = true;
    if (e.key === 'ArrowDown') items[(at + 1) % items.length]?.focus();
    else if (e.key === 'ArrowUp') items[(at - 1 + items.length) % items.length]?.focus();
    else if (e.key === 'Home') items[0]?.focus();
    else if (e.key === 'End') items[items.length - 1]?.focus();
    else if (e.key === 'Escape') this.close();
    else if (!shortcut?.(e.key)) {
      if (e.key === 'Tab') this.close(false);
      handled = false; // Enter and Space click the item itself
    }
    if (handled) e.preventDefault();
    e.stopPropagation();
  }

  /** For `<svelte:window onpointerdown>`: a press outside closes the menu. */
  pointerdown(e: PointerEvent): void {
    if (this.open && this.root && !this.root.contains(e.target as Node)) this.close(false);
  }
}
