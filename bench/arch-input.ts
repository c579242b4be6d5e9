// The input each architecture is benched at: the digit nets read greyscale 28x28 images (digits,
// Fashion-MNIST), the others colour 32x32 (CIFAR). Shared by bench:train and bench:profile.

import type { ArchName } from '../src/shared/types';

export function benchInput(arch: ArchName): { size: number; channels: 1 | 3 } {
  return arch === 'keras-cifar' || arch === 'resnet-small' ? { size: 32, channels: 3 } : { size: 28, channels: 1 };
}
