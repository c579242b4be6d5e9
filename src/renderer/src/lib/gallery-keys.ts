// The labeling keys of a gallery, shared by the Label view and the Evaluate view's gallery, so
// a wrong label is fixed with the same keys wherever it is found.

import type { ClassCount } from '../../../shared/types';
import type { Gallery } from './gallery.svelte';
import { toasts } from './toasts.svelte';

export interface GalleryKeyContext {
  gallery: Gallery;
  classes: ClassCount[];
  grid: { columnsPerRow(): number; pageRows(): number } | undefined;
  viewer: { zoom(factor: number): void; reset(): void } | undefined;
  viewing: boolean;
  setViewing(open: boolean): void;
  openPalette(): void;
  /** The view's own keys (plain keys without modifiers); true when handled. */
  extra?: (key: string, e: KeyboardEvent) => boolean;
}

export function isTextField(el: Element | null): boolean {
  if (!el) return false;
  const tag = el.tagName;
  return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || (el as HTMLElement).isContentEditable;
}

/** A focused button or link: Enter and Space press it, rather than open the viewer. */
function isControl(el: Element | null): boolean {
  return el?.closest('button, a[href], summary, [role=button], [role=menuitem], [role=radio], [role=tab]') != null;
}

function labelByPosition(ctx: GalleryKeyContext, position: number, startedAt: number) {
  const cls = ctx.classes[position];
  if (cls) void ctx.gallery.label(cls.id, startedAt);
  else toasts.show(`No class ${position + 1} yet. Add classes in the panel on the left.`);
}

/** Handles one keydown for a gallery; ignores typing in fields and keys while a dialog is open. */
export function handleGalleryKey(e: KeyboardEvent, ctx: GalleryKeyContext): void {
  if (e.defaultPrevented || isTextField(e.target as Element)) return;
  if (document.querySelector('dialog[open]')) return;
  const { gallery, viewing } = ctx;
  const mod = e.ctrlKey || e.metaKey;
  const cols = viewing ? 1 : (ctx.grid?.columnsPerRow() ?? 1);
  const key = e.key;
  let handled = true;
  if (mod && key.toLowerCase() === 'z') void (e.shiftKey ? gallery.redo() : gallery.undo());
  else if (mod && key.toLowerCase() === 'y') void gallery.redo();
  else if (mod && key.toLowerCase() === 'a') gallery.selectAll();
  else if (mod && key.toLowerCase() === 'k') ctx.openPalette();
  else if (mod) handled = false;
  else if (/^[1-9]$/.test(key)) labelByPosition(ctx, Number(key) - 1, e.timeStamp);
  else if (key === '0' || key === 'Backspace') void gallery.label(null, e.timeStamp);
  else if (key === '/') ctx.openPalette();
  else if (key === 'Delete' && e.shiftKey) void gallery.remove();
  else if (key === 'ArrowRight') gallery.moveFocus(gallery.focus + 1, e.shiftKey);
  else if (key === 'ArrowLeft') gallery.moveFocus(gallery.focus - 1, e.shiftKey);
  else if (key === 'ArrowDown' && !viewing) gallery.moveFocus(gallery.focus + cols, e.shiftKey);
  else if (key === 'ArrowUp' && !viewing) gallery.moveFocus(gallery.focus - cols, e.shiftKey);
  else if (key === 'PageDown') gallery.moveFocus(gallery.focus + cols * (ctx.grid?.pageRows() ?? 1), e.shiftKey);
  else if (key === 'PageUp') gallery.moveFocus(gallery.focus - cols * (ctx.grid?.pageRows() ?? 1), e.shiftKey);
  else if (key === 'Home') gallery.moveFocus(0, e.shiftKey);
  else if (key === 'End') gallery.moveFocus(gallery.ids.length - 1, e.shiftKey);
  else if ((key === ' ' || key === 'Enter') && isControl(e.target as Element)) handled = false;
  else if ((key === ' ' || key === 'Enter') && !viewing && gallery.ids.length > 0) ctx.setViewing(true);
  else if (key === 'Escape') {
    if (viewing) ctx.setViewing(false);
    else gallery.clearSelection();
  } else if (viewing && (key === '+' || key === '=')) ctx.viewer?.zoom(1.25);
  else if (viewing && key === '-') ctx.viewer?.zoom(1 / 1.25);
  else if (viewing && key === 'f') ctx.viewer?.reset();
  else handled = ctx.extra?.(key, e) ?? false;
  if (handled) e.preventDefault();
}
