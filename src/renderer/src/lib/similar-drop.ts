// "More like this" for an image dropped from outside the project: the view showing a gallery
// registers what to do with one dropped image file, and the window's drop overlay offers it
// beside importing while one is registered.

let handler: ((file: File) => void) | null = null;

/** Makes `fn` take images dropped for "more like this"; the returned function lets go. */
export function onSimilarDrop(fn: (file: File) => void): () => void {
  handler = fn;
  return () => {
    if (handler === fn) handler = null;
  };
}

export function similarDropHandler(): ((file: File) => void) | null {
  return handler;
}

/** A file as base64, for an API call (the browser and the desktop window alike). */
export async function fileAsBase64(file: File): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}
