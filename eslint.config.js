// Lint rules that hold the architecture: every import follows the layer map in
// eslint-rules/layers.js (src/shared imports nothing outside itself; only the desktop shell and
// preload import electron; service folders import each other one way), and SQL is written only in
// src/main/store and records modules (eslint-rules/sql-in-records.js).
import js from '@eslint/js';
import svelte from 'eslint-plugin-svelte';
import globals from 'globals';
import ts from 'typescript-eslint';
import loupe from './eslint-rules/index.js';

export default ts.config(
  { ignores: ['out/**', 'dist/**', 'node_modules/**', 'native/**', '.scratch/**', '.node/**'] },
  js.configs.recommended,
  ...ts.configs.recommended,
  ...svelte.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-empty-object-type': 'off',
    },
  },
  {
    files: ['src/renderer/**/*.{ts,svelte}', 'src/renderer/**/*.svelte.ts'],
    languageOptions: { globals: { ...globals.browser }, parserOptions: { parser: ts.parser, extraFileExtensions: ['.svelte'] } },
  },
  // The layer map: which folders may import which (eslint-rules/layers.js holds the table), so
  // src/shared imports nothing, the renderer only the contract, services never electron or the
  // front ends, and a new circle between service folders fails lint.
  {
    files: ['src/**/*.{ts,mts,js,mjs,svelte}'],
    plugins: { loupe },
    rules: {
      'loupe/layers': 'error',
      'loupe/sql-in-records': 'error',
    },
  },
  // Seeded randomness is passed to what draws it (training/seeded-layers.ts, rng.ts): patching
  // Math.random would make every seeded figure depend on what else ran in the thread.
  {
    files: ['src/main/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "AssignmentExpression[left.object.name='Math'][left.property.name='random']",
          message: 'Pass a seeded generator (services/rng.ts) to what draws random numbers; never patch Math.random.',
        },
      ],
    },
  },
);
