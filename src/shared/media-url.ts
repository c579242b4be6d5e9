// Media URLs, the same shape on both hosts: the desktop serves them through the `loupe://`
// protocol, browser mode over HTTP under /media/.

export type MediaKind = 'image' | 'thumb';

export function mediaPath(projectKey: string, kind: MediaKind, hash: string): string {
  return `media/${projectKey}/${kind}/${hash}`;
}

/** `media/<key>/<kind>/<sha256>` → its parts, or null for anything else. */
export function parseMediaPath(p: string): { key: string; rest: string } | null {
  const m = /^media\/([0-9a-f]{24})\/((?:image|thumb)\/[0-9a-f]{64})$/.exec(p);
  return m ? { key: m[1], rest: m[2] } : null;
}
