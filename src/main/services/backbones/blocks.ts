// Which parts of a backbone a transfer run can train: the points where its last blocks can be
// cut off (their input cached once per image, so each epoch runs only what is trained), or why
// the backbone cannot be fine-tuned at all (the operators Loupe's training compiler has no
// gradient for). The planner decides from this; training executes it.

/** A place to cut a backbone: everything after `cutLayer` is trained. */
export interface BlockCut {
  /** Backbone blocks after the cut (1 = the last block). */
  blocks: number;
  /** The layer whose output is cached per image (spatial, not pooled). */
  cutLayer: string;
  /** Floats per image of the cut layer's output at the backbone's native input size (scales with the square of the side). */
  floatsAtNative: number;
  /** Forward multiply-adds per image of the part after the cut, at the native input size. */
  macsAtNative: number;
}

export type FineTuneSupport =
  | {
      ok: true;
      /** Possible cuts, fewest trained blocks first. */
      cuts: BlockCut[];
      /** Forward multiply-adds per image of the whole backbone at its native input size (training all of it). */
      macsAtNative: number;
    }
  | { ok: false; why: string };
