// Messages between the map service and its worker thread (workers/map.worker.ts): the layout
// runs there so the studio's process stays responsive for the minute a large map takes.

import type { Basis, LayoutSettings } from './layout';

export type ToMapWorker =
  | { mode: 'layout'; rows: Float32Array; n: number; f: number; settings: LayoutSettings }
  | { mode: 'place'; rows: Float32Array; n: number; f: number; basis: Basis; base: Float32Array; coords: Float32Array; m: number; neighbours: number };

export type FromMapWorker =
  | { type: 'progress'; done: number; total: number | null; phase: string }
  | { type: 'layout'; basis: Basis; reduced: Float32Array; coords: Float32Array }
  | { type: 'placed'; reduced: Float32Array; coords: Float32Array }
  | { type: 'error'; message: string };
