// The map layout's settings and their defaults, apart from the layout itself: the main process
// reads them without loading UMAP or onnxruntime, which only the worker needs.

export interface LayoutSettings {
  seed: number;
  /** UMAP's n_neighbors. */
  neighbours: number;
  /** PCA dimensions the neighbours are found in. */
  dims: number;
  /** Optimisation epochs (umap-js's default is 200 above 10,000 points, 500 under 2,500). */
  epochs: number;
  minDist: number;
}

export const DEFAULT_SETTINGS: LayoutSettings = { seed: 1, neighbours: 15, dims: 50, epochs: 0, minDist: 0.1 };

/** umap-js's epochs for a data set of n points. */
export function defaultEpochs(n: number): number {
  return n <= 2500 ? 500 : n <= 5000 ? 400 : n <= 7500 ? 300 : 200;
}

