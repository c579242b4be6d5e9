// Browser mode's download of a finished export, as one zip: `/exports/<project key>/<export id>.zip`.
// The key is the project's opaque media key, so the URL names no path on the server.

export function exportDownloadPath(projectKey: string, exportId: number): string {
  return `/exports/${projectKey}/${exportId}.zip`;
}

/** The raw request path (never decoded) → its parts, or null for anything else. */
export function parseExportDownloadPath(rawPath: string): { key: string; exportId: number } | null {
  const m = /^\/exports\/([0-9a-f]{24})\/([1-9][0-9]{0,14})\.zip$/.exec(rawPath);
  return m ? { key: m[1], exportId: Number(m[2]) } : null;
}
