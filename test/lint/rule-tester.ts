// ESLint's RuleTester wired to vitest, parsing TypeScript, and files named by their path from the
// repository root (the rules decide by where a file lies).

import path from 'node:path';
import { RuleTester } from 'eslint';
import { parser } from 'typescript-eslint';
import { describe, it } from 'vitest';

RuleTester.describe = describe;
RuleTester.it = it;
RuleTester.itOnly = it.only;

const ROOT = path.resolve(import.meta.dirname, '../..');

/** A file of the repository, by its path from the root, as ESLint names it. */
export const at = (file: string) => path.join(ROOT, file);

export const tester = new RuleTester({ languageOptions: { parser, ecmaVersion: 2022, sourceType: 'module' } });
