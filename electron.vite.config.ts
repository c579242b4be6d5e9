import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'electron-vite';
import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';

// Every src/main/workers/<name>.worker.ts becomes out/main/workers/<name>.worker.js.
const workers = Object.fromEntries(
  readdirSync('src/main/workers')
    .filter((f) => f.endsWith('.worker.ts'))
    .map((f) => [`workers/${f.slice(0, -3)}`, resolve('src/main/workers', f)]),
);

export default defineConfig({
  main: {
    build: {
      outDir: 'out/main',
      rollupOptions: {
        input: {
          // The desktop shell (imports electron) and the CLI (never does) share the core services.
          index: resolve('src/main/index.ts'),
          cli: resolve('src/main/cli/run.ts'),
          ...workers,
        },
        output: { format: 'es', entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js' },
      },
    },
  },
  preload: {
    build: {
      outDir: 'out/preload',
      rollupOptions: {
        input: { index: resolve('src/preload/index.ts') },
        // Sandboxed preloads must be CommonJS.
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: 'src/renderer',
    build: {
      outDir: 'out/renderer',
      rollupOptions: { input: resolve('src/renderer/index.html') },
    },
    plugins: [svelte({ configFile: resolve('svelte.config.js') })],
  },
});
