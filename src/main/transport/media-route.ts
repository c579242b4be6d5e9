import { LoupeError } from '../../shared/errors';
import { parseMediaPath } from '../../shared/media-url';
import type { Studio } from '../api/studio';
import { resolveMediaRequest, type MediaFile } from '../store/media';

/**
 * Resolves the path part of a media URL (`media/<key>/<kind>/<sha256>`, taken raw, never
 * decoded) to a file inside an open project. Shared by the desktop protocol and browser mode.
 */
export function resolveMediaUrlPath(studio: Studio, rawPath: string): MediaFile {
  const parsed = parseMediaPath(rawPath);
  if (!parsed) throw new LoupeError('FORBIDDEN', 'Not a media path.');
  const project = studio.projectByKey(parsed.key);
  if (!project) throw new LoupeError('NOT_FOUND', 'That project is not open.');
  return resolveMediaRequest(project, parsed.rest);
}
