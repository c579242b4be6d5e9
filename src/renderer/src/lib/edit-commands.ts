// Undo and Redo from the desktop app's Edit menu. Its accelerators (Ctrl+Z, Shift+Ctrl+Z) reach
// the menu instead of the page, so the page decides here what they undo: the text of a focused
// field, or else the labeling of the gallery on screen (Label or Evaluate view).

import { isTextField } from './gallery-keys';

interface Undoable {
  undo(): Promise<void>;
  redo(): Promise<void>;
}

let target: Undoable | null = null;

/** Makes `undoable` what the menu's Undo and Redo act on; the returned function lets go. */
export function setUndoTarget(undoable: Undoable): () => void {
  target = undoable;
  return () => {
    if (target === undoable) target = null;
  };
}

export function runEditCommand(command: 'undo' | 'redo'): void {
  if (isTextField(document.activeElement)) document.execCommand(command);
  else if (target) void (command === 'undo' ? target.undo() : target.redo());
}
