// Browser mode's download of a finished export (`GET /exports/<key>/<id>.zip`), behind the same
// token, Host and Origin checks as every request. The raw path is matched exactly, the project
// must be open in this process, and only that project's completed exports are served.

import type http from 'node:http';
import { LoupeError } from '../../shared/errors';
import { parseExportDownloadPath } from '../../shared/download-url';
import type { Studio } from '../api/studio';
import { attachmentHeader, exportDownload, writeExportZip, type ExportDownload } from '../services/export/download';
import { SECURITY_HEADERS } from './security';

/** The export a raw request path names: FORBIDDEN for a malformed path, NOT_FOUND when it is not there. */
export function resolveExportDownload(studio: Studio, rawPath: string): ExportDownload {
  const parsed = parseExportDownloadPath(rawPath);
  if (!parsed) throw new LoupeError('FORBIDDEN', 'Not an export download path.');
  const project = studio.projectByKey(parsed.key);
  if (!project) throw new LoupeError('NOT_FOUND', 'That project is not open.');
  return exportDownload(project, parsed.exportId);
}

export function sendExportDownload(
  studio: Studio,
  rawPath: string,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  refuse: (status: number, text: string) => void,
): void {
  let download: ExportDownload;
  try {
    download = resolveExportDownload(studio, rawPath);
  } catch (err) {
    const notFound = err instanceof LoupeError && err.code === 'NOT_FOUND';
    return refuse(notFound ? 404 : 403, notFound ? 'Not found' : 'Forbidden');
  }
  res.writeHead(200, {
    ...SECURITY_HEADERS,
    'Content-Type': 'application/zip',
    'Content-Disposition': attachmentHeader(download.fileName),
    'Cache-Control': 'no-store',
  });
  if (req.method === 'HEAD') return void res.end();
  writeExportZip(download, res).catch((err: unknown) => {
    console.error('[loupe] export download failed:', err);
    res.destroy();
  });
}
