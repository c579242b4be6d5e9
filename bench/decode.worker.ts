// Bench only: bare sharp decoding (read the file, decode to raw pixels), the yardstick the
// import's throughput is compared with. Same thread count and files in flight as the import.
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import sharp from 'sharp';

const { files, depth } = workerData as { files: string[]; depth: number };
let next = 0;
async function lane(): Promise<void> {
  while (next < files.length) {
    const file = files[next++];
    await sharp(fs.readFileSync(file)).raw().toBuffer();
  }
}
await Promise.all(Array.from({ length: depth }, lane));
parentPort?.postMessage('done');
