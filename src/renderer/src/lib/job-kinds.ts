// Jobs for people: what each kind is called, and the view that shows it.

import type { JobKind } from '../../../shared/types';

const KINDS: Record<JobKind, { title: string; view: string }> = {
  train: { title: 'Training', view: 'train' },
  import: { title: 'Import', view: 'label' },
  export: { title: 'Export', view: 'export' },
  features: { title: 'Feature extraction', view: 'train' },
  suggest: { title: 'Label suggestions', view: 'label' },
  labelErrors: { title: 'Label check', view: 'evaluate' },
  backbone: { title: 'Backbone download', view: 'train' },
  backboneSpeed: { title: 'Backbone speed', view: 'train' },
  doctor: { title: 'Data check', view: 'doctor' },
  map: { title: 'Map layout', view: 'map' },
};

export const jobTitle = (kind: JobKind): string => KINDS[kind].title;
export const jobView = (kind: JobKind): string => KINDS[kind].view;
