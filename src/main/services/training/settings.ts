// The Advanced training settings kept with the project (meta `train_settings`, JSON), so the
// Train view shows them again after a reload, in another window, or when the project reopens.
// A project folder is untrusted: what is read back is checked field by field against the API's
// own schema, anything unknown or out of range is left out, and a backbone given as a path is
// never kept (a stored path must not point Loupe outside the folder).

import { trainOverrides } from '../../../shared/api';
import type { TrainOverrides } from '../../../shared/types';
import type { DB } from '../../store/database';
import { metaText, setMetaText } from './records';

const KEY = 'train_settings';

/** A backbone named in the list (a registry or added name), not a path. */
const BACKBONE_NAME = /^[\w.-]+$/;

/** The settings as kept: valid fields only, and no backbone path. */
export function keptSettings(value: unknown): TrainOverrides {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  const kept: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    try {
      Object.assign(kept, trainOverrides.parse({ [key]: field }));
    } catch {
      // Unknown (another version of Loupe) or out of range: the plan decides instead.
    }
  }
  const settings = kept as TrainOverrides;
  if (typeof settings.backbone === 'string' && !BACKBONE_NAME.test(settings.backbone)) delete settings.backbone;
  return settings;
}

export function trainSettings(db: DB): TrainOverrides {
  const value = metaText(db, KEY);
  if (value === null) return {};
  try {
    return keptSettings(JSON.parse(value));
  } catch {
    return {};
  }
}

/** Keeps `settings` (what can be kept of them) and returns what was kept. */
export function saveTrainSettings(db: DB, settings: TrainOverrides): TrainOverrides {
  const kept = keptSettings(settings);
  setMetaText(db, KEY, Object.keys(kept).length === 0 ? null : JSON.stringify(kept));
  return kept;
}
